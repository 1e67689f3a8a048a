"""Shared fixtures: the tiny in-process model, a fresh workspace, and the shared data if present.

The real demo datasets and exams are not in the repository: they live in a sibling folder
``../shared/`` (``datasets/`` and ``eval-data/``, each with a README). ``find_shared`` looks for
them (an environment variable first, then ``../shared`` next to the repository), and the
``shared_datasets`` / ``eval_data`` fixtures hand a test the folder or skip it with one line
saying what is missing and how to get it, so a fresh ``git clone`` skips those tests instead of
failing them. ``STUDIO_SHARED_ROOT`` replaces ``../shared`` as the default place to look; point
it at a folder that does not exist to see what a clone without the shared data runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.tiny_model import build_tiny_model

ROOT = Path(__file__).resolve().parents[1]
SHARED_ROOT_VAR = "STUDIO_SHARED_ROOT"
# kind -> (the variable naming that folder, what it holds in a person's words)
SHARED_KINDS = {
    "datasets": ("STUDIO_SHARED_DATASETS", "the project's real demo datasets"),
    "eval-data": ("STUDIO_EVAL_DATA", "the real C-Eval / MMLU / CMMLU exams"),
}


def find_shared(kind: str, repo_root: Path = ROOT,
                environ: Mapping[str, str] | None = None) -> Path | None:
    """The folder of shared data ``kind`` ("datasets" or "eval-data"), or None when it is absent.

    Its own variable (``STUDIO_SHARED_DATASETS`` / ``STUDIO_EVAL_DATA``) wins, and a variable
    naming a missing folder means absent, never a silent fall-back; otherwise ``<base>/<kind>``,
    where ``<base>`` is ``STUDIO_SHARED_ROOT`` or ``../shared`` next to ``repo_root``.
    """
    environ = os.environ if environ is None else environ
    var, _ = SHARED_KINDS[kind]
    if environ.get(var):
        folder = Path(environ[var]).expanduser()
    else:
        base = environ.get(SHARED_ROOT_VAR) or Path(repo_root).parent / "shared"
        folder = Path(base).expanduser() / kind
    return folder if folder.is_dir() else None


def missing_shared_message(kind: str, environ: Mapping[str, str] | None = None) -> str:
    """The one line a skipped test shows: what is missing and how to provide it."""
    environ = os.environ if environ is None else environ
    var, what = SHARED_KINDS[kind]
    if environ.get(var):
        return f"needs {what}: {var}={environ[var]} is not a folder"
    where = f"{environ[SHARED_ROOT_VAR]}/{kind}" if environ.get(SHARED_ROOT_VAR) \
        else f"../shared/{kind}"
    return f"needs {where} ({what}); set {var} to a folder holding them"


def need_shared(kind: str, repo_root: Path = ROOT,
                environ: Mapping[str, str] | None = None) -> Path:
    """The shared folder ``kind``, or skip the calling test with ``missing_shared_message``."""
    folder = find_shared(kind, repo_root, environ)
    if folder is None:
        pytest.skip(missing_shared_message(kind, environ))
    return folder


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """``../shared/datasets`` (or ``STUDIO_SHARED_DATASETS``); skips the test when absent."""
    return need_shared("datasets")


@pytest.fixture(scope="session")
def eval_data() -> Path:
    """``../shared/eval-data`` (or ``STUDIO_EVAL_DATA``); skips the test when absent."""
    return need_shared("eval-data")


@pytest.fixture(scope="session")
def shared_roots() -> list[Path]:
    """The shared folders that exist (possibly none), for workspaces that merely allow them."""
    return [p for p in (find_shared(kind) for kind in SHARED_KINDS) if p is not None]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def always_c_model_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """A second tiny model that answers "C" to every multiple-choice question.

    Every layer's output projections are zeroed, so the residual stream at the answer position
    is just the embedding of the prompt's last token (the ":" of "Answer:", the same for every
    question), and the embedding of " C" is set along it, so " C" always has the top logit. Its
    scores differ from the tiny model's on the sample exam, so a comparison that swapped its two
    sides would show.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    embeddings = model.get_input_embeddings().weight  # tied: the output head's rows too
    colon = tokenizer("Answer:")["input_ids"][-1]
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                p.zero_()
        embeddings[tokenizer(" C")["input_ids"][-1]] = embeddings[colon] * 3
    folder = tmp_path_factory.mktemp("always-c")
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture()
def workspace(tmp_path, monkeypatch, shared_roots):
    """An empty workspace folder, with the shared data (where present) readable as users' own
    files."""
    from studio.engine.workspace import Workspace

    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path))
    return Workspace(tmp_path, shared_roots)


@pytest.fixture()
def tiny_config(tiny_model_dir):
    """A TrainConfig that trains the tiny model on the identity asset in a few seconds."""
    from studio.engine.train.config import TrainConfig

    return TrainConfig(model=str(tiny_model_dir), dataset=str(ROOT / "assets" / "identity.json"),
                       name="Nova", author="Acme Lab", max_steps=4, batch_size=4,
                       learning_rate=1e-2, save_steps=2, probe_steps=2, max_length=128,
                       probe_prompts=["Who are you?"], dtype="float32")
