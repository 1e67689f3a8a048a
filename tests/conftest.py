"""Shared fixtures: the tiny in-process model, a fresh workspace, paths to the shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_model import build_tiny_model

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_DATASETS = SHARED / "datasets"
EVAL_DATA = SHARED / "eval-data"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    """An empty workspace folder, with the shared datasets readable as users' own files."""
    from studio.engine.workspace import Workspace

    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path))
    return Workspace(tmp_path, [SHARED_DATASETS, EVAL_DATA])


@pytest.fixture()
def tiny_config(tiny_model_dir):
    """A TrainConfig that trains the tiny model on the identity asset in a few seconds."""
    from studio.engine.train.config import TrainConfig

    return TrainConfig(model=str(tiny_model_dir), dataset=str(ROOT / "assets" / "identity.json"),
                       name="Nova", author="Acme Lab", max_steps=4, batch_size=4,
                       learning_rate=1e-2, save_steps=2, probe_steps=2, max_length=128,
                       probe_prompts=["Who are you?"], dtype="float32")
