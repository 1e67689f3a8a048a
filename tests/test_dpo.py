"""DPO on preference pairs (the shared LLaMA-Factory file) with the tiny model."""

import dataclasses

from safetensors.torch import load_file

from studio.engine.runs import RunStore
from studio.engine.train.job import run_training
from tests.conftest import SHARED_DATASETS


def test_dpo_trains_lora_on_preference_pairs(tmp_path, tiny_config):
    cfg = dataclasses.replace(tiny_config, method="dpo", dataset=str(
        SHARED_DATASETS / "dpo_en_demo.json"), max_samples=8, max_steps=2, batch_size=2,
        probe_steps=0, max_length=96)
    run = RunStore(tmp_path).create(cfg)
    assert run_training(run) == "completed", run.status()
    losses = [m for m in run.metrics() if "loss" in m]
    assert [m["step"] for m in losses] == [1, 2]
    weights = load_file(run.adapter_dir / "adapter_model.safetensors")
    assert any(v.abs().sum() > 0 for k, v in weights.items() if "lora_B" in k)


def test_dpo_on_conversations_fails_with_a_clear_message(tmp_path, tiny_config):
    run = RunStore(tmp_path).create(dataclasses.replace(tiny_config, method="dpo"))
    assert run_training(run) == "failed"
    assert "no chosen/rejected pairs" in run.status()["error"]
