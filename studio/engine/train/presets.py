"""Presets: recipe files of TrainConfig fields, shipped in ``presets/`` or saved by the user.

A preset is a YAML file whose leading comment says what it is for, how long it takes and what to
tweak. The studio's own live in the project's ``presets/`` folder and are never changed; the
user's own are written to ``<workspace>/presets`` (the Train tab's "Save as preset"). The Train
tab and ``studio train`` both find presets here, by path or by name, so a preset saved in the
browser trains from a shell as ``studio train my-preset``. Saving never replaces a file: the
name is claimed in one step, so of two pages saving one name at once, one is told it is taken.
"""

from __future__ import annotations

import os
import re
import threading
from datetime import datetime
from pathlib import Path

from studio.engine.errors import ConfigError
from studio.engine.train.config import TrainConfig, dump_yaml, preset_header
from studio.engine.workspace import PRESETS, Workspace

USER_PRESETS = "presets"  # folder inside the workspace; the shipped presets stay untouched


def user_presets_dir(workspace: Workspace) -> Path:
    return workspace.root / USER_PRESETS


def list_presets(workspace: Workspace) -> list[tuple[str, str]]:
    """(label, path) for the shipped presets, then the user's own (marked with a star)."""
    shipped = [(p.stem, str(p)) for p in sorted(PRESETS.glob("*.yaml"))]
    mine = [(f"★ {p.stem}", str(p)) for p in sorted(user_presets_dir(workspace).glob("*.yaml"))]
    return shipped + mine


def preset_path(workspace: Workspace, value: str) -> Path:
    """The preset a picker value names; only files listed as presets can be read."""
    allowed = {path for _, path in list_presets(workspace)}
    if value not in allowed:
        raise ConfigError("preset_unknown", name=repr(value))
    return Path(value)


def find_preset(workspace: Workspace, name_or_path: str) -> Path:
    """A config file for ``studio train``: an existing YAML path, or a preset's name (the
    user's own first, then the shipped one), with or without ``.yaml``."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    stem = path.name.removesuffix(".yaml")
    for folder in (user_presets_dir(workspace), PRESETS):
        candidate = folder / f"{stem}.yaml"
        if candidate.is_file():
            return candidate
    raise ConfigError("config_missing", path=str(name_or_path))


def describe_preset(path: Path) -> str:
    return preset_header(path) or path.stem


def save_preset(workspace: Workspace, name: str, cfg: TrainConfig, note: str = "") -> Path:
    """Write ``cfg`` as ``<workspace>/presets/<name>.yaml``; never replaces an existing file."""
    slug = re.sub(r"[^\w.-]+", "-", name.strip()).strip("-.")
    if not slug:
        raise ConfigError("preset_name")
    target = user_presets_dir(workspace) / f"{slug}.yaml"
    if (PRESETS / target.name).exists():
        raise ConfigError("preset_exists", name=slug)
    target.parent.mkdir(parents=True, exist_ok=True)
    header = note.strip() or f"Saved from the Train tab on {datetime.now():%Y-%m-%d %H:%M}."
    _publish_new(target, dump_yaml(cfg, header), slug)
    return target


def _publish_new(target: Path, text: str, name: str) -> None:
    """Write ``target`` whole, only if no file has that name: two pages saving one name at once
    get one preset and one "name taken", never one file overwritten by the other or read half
    written. The text goes to a private file first; a hard link then claims the name, which the
    system does for one caller only."""
    draft = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        draft.write_text(text, encoding="utf-8")
        try:
            os.link(draft, target)
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: exclusive create, then write
            with open(target, "x", encoding="utf-8") as fh:
                fh.write(text)
    except FileExistsError:
        raise ConfigError("preset_exists", name=name) from None
    finally:
        draft.unlink(missing_ok=True)
