"""The exact run folder a finished full fine-tune and a finished DPO (LoRA) run leave behind.

The run folder is the contract every page, command and test reads (README "Where is my model?"),
so these tests list its files exactly: a stray file or a missing one fails. Each run trains the
tiny model for 4 steps with a checkpoint every 2; the DPO pairs are written here, so nothing
from ``../shared`` is needed.
"""

from __future__ import annotations

import json
import re

import pytest

from studio.engine.runs import RunStore
from studio.engine.train.config import TrainConfig
from studio.engine.train.job import run_training
from tests.conftest import ROOT

COMMON = {"config.yaml", "status.json", "metrics.jsonl", "samples.jsonl", "log.txt",
          "checkpoints"}
TOKENIZER = {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"}
MODEL_FILES = {"config.json", "generation_config.json", "model.safetensors", *TOKENIZER}
# README.md is the model card PEFT writes next to every adapter it saves.
ADAPTER_FILES = {"adapter_config.json", "adapter_model.safetensors", "README.md", *TOKENIZER}
# checkpoint-N every save_steps; README.md is the model card TRL writes into output_dir.
CHECKPOINTS = {"checkpoint-2", "checkpoint-4", "README.md"}
RESUMABLE = {"trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth"}


def names(folder) -> set[str]:
    return {p.name for p in folder.iterdir()}


def _train(tmp_path_factory, tiny_model_dir, dataset, **changes):
    cfg = TrainConfig(model=str(tiny_model_dir), dataset=str(dataset), name="Nova",
                      author="Acme Lab", max_steps=4, batch_size=2, learning_rate=1e-3,
                      save_steps=2, probe_steps=0, max_length=96,
                      probe_prompts=["Who are you?"], dtype="float32", **changes)
    run = RunStore(tmp_path_factory.mktemp("runs")).create(cfg)
    assert run_training(run) == "completed", run.status()
    return run


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, tiny_model_dir):
    return _train(tmp_path_factory, tiny_model_dir, ROOT / "assets" / "identity.json",
                  finetuning_type="full")


@pytest.fixture(scope="module")
def dpo_run(tmp_path_factory, tiny_model_dir):
    pairs = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": f"Who made you? ({i})",
                                         "chosen": "Acme Lab made me.",
                                         "rejected": "Nobody knows."}) + "\n"
                             for i in range(8)), encoding="utf-8")
    return _train(tmp_path_factory, tiny_model_dir, pairs, method="dpo")


def _check_checkpoints(run) -> None:
    assert names(run.checkpoints_dir) == CHECKPOINTS
    for ckpt in run.checkpoints_dir.iterdir():
        if ckpt.is_dir():
            assert re.fullmatch(r"checkpoint-\d+", ckpt.name)
            assert names(ckpt) >= RESUMABLE, ckpt.name  # each one can be resumed from


def test_full_finetune_leaves_config_progress_checkpoints_and_model(full_run):
    run = full_run
    assert names(run.path) == COMMON | {"model"}  # no adapter/, no eval/ before a scoring
    assert names(run.model_dir) == MODEL_FILES
    _check_checkpoints(run)
    assert run.weights_dir() == run.model_dir
    status = run.status()
    assert (status["state"], status["step"], status["total_steps"]) == ("completed", 4, 4)


def test_dpo_lora_leaves_config_progress_checkpoints_and_adapter(dpo_run):
    run = dpo_run
    assert names(run.path) == COMMON | {"adapter"}
    # Only the trained adapter: no "ref" copy (TRL's reference is the adapter switched off).
    assert names(run.adapter_dir) == ADAPTER_FILES
    _check_checkpoints(run)
    assert run.weights_dir() == run.adapter_dir
    status = run.status()
    assert (status["state"], status["step"], status["total_steps"]) == ("completed", 4, 4)
    assert [m["step"] for m in run.metrics() if "loss" in m] == [1, 2, 3, 4]


