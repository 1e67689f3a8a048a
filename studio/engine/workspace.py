"""The workspace: the folders a studio user may read from and write to.

A browser user names files on the server (datasets, adapters, eval data). Every such path goes
through ``Workspace.resolve`` so it cannot escape the workspace, the project's ``assets/`` or the
extra read-only roots the operator allowed at launch (``--allow-path``). Runs and saved datasets
live under the workspace root, a folder of its own (``~/fine-tune-studio`` unless the operator
names another), so launching from a home folder never makes every file under it readable. The
operator also decides which models may run their own Python code (``--trust-remote-code``); a
browser can never turn that on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from studio.engine.errors import PathError
from studio.engine.models import BUNDLED_ID, HUB_ID

ASSETS = Path(__file__).resolve().parents[2] / "assets"
PRESETS = Path(__file__).resolve().parents[2] / "presets"
ANY_MODEL = "*"  # --trust-remote-code '*': the operator trusts every model's code


def default_root() -> Path:
    """The workspace when none is named: ``$STUDIO_WORKSPACE`` or ``~/fine-tune-studio``."""
    return Path(os.environ.get("STUDIO_WORKSPACE") or "~/fine-tune-studio").expanduser()


@dataclass
class Workspace:
    root: Path
    extra_roots: list[Path] = field(default_factory=list)
    remote_code_models: frozenset[str] = frozenset()  # model ids the operator trusts
    allow_code: bool = False  # the operator lets GRPO reward files (Python) run

    def __post_init__(self):
        self.root = Path(self.root).expanduser().resolve()
        self.extra_roots = [Path(p).expanduser().resolve() for p in self.extra_roots]

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    def readable_roots(self) -> list[Path]:
        return [self.root, ASSETS, PRESETS, *self.extra_roots]

    def resolve(self, user_path: str | Path, must_exist: bool = True) -> Path:
        """An absolute path inside an allowed root, or PathError saying which roots are allowed."""
        raw = Path(str(user_path).strip()).expanduser()
        candidates = [raw] if raw.is_absolute() else [r / raw for r in (self.root, ASSETS.parent)]
        for candidate in candidates:
            path = candidate.resolve()
            if not any(path.is_relative_to(r) for r in self.readable_roots()):
                continue
            if must_exist and not path.exists():
                continue
            return path
        inside = any(c.resolve().is_relative_to(r) for c in candidates
                     for r in self.readable_roots())
        if inside and must_exist:
            raise PathError("path_not_found", path=str(user_path))
        raise PathError("path_outside", path=str(user_path), allowed=self.allowed_names())

    def allowed_names(self) -> str:
        """The readable roots as a page may show them: by name, never as the server's absolute
        paths (a refusal must not map the server's disk for whoever typed the path)."""
        names = ["the workspace", "assets/", "presets/",
                 *[f"{r.name}/ (allowed at launch)" for r in self.extra_roots]]
        return ", ".join(names)

    def trusts_remote_code(self, model: str) -> bool:
        """Whether the operator allowed ``model`` to run the Python code it ships (a launch flag,
        never a form field: a hub id typed into a page must not run code on the server)."""
        model = (model or "").strip()
        return ANY_MODEL in self.remote_code_models or model in self.remote_code_models

    def model_source(self, text: str) -> str:
        """A model a browser user named: the bundled id or a hub id as typed, a folder only
        inside the allowed roots (PathError otherwise)."""
        text = (text or "").strip()
        if text == BUNDLED_ID:
            return text
        try:
            return str(self.resolve(text))
        except PathError:
            if HUB_ID.match(text) and not Path(text).expanduser().exists():
                return text  # a hub id, fetched by transformers on a machine with internet
            raise

    def writable(self, user_path: str | Path) -> Path:
        """A path for writing: inside the workspace root only, never in assets or extra roots."""
        path = (self.root / Path(str(user_path).strip())).resolve()
        if not path.is_relative_to(self.root):
            raise PathError("path_not_writable", path=str(user_path))
        return path
