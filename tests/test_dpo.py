"""DPO on preference pairs (the shared LLaMA-Factory file) with the tiny model."""

import dataclasses

from studio.engine.runs import RunStore
from studio.engine.train.job import run_training
from tests.training import assert_every_lora_tensor_trained

LORA_MODULES = 14  # all-linear on the tiny model: q, k, v, o, gate, up, down in each of 2 layers


def test_dpo_trains_lora_on_preference_pairs(tmp_path, tiny_config, shared_datasets):
    cfg = dataclasses.replace(tiny_config, method="dpo", dataset=str(
        shared_datasets / "dpo_en_demo.json"), max_samples=8, max_steps=2, batch_size=2,
        probe_steps=0, max_length=96, save_steps=1)
    run = RunStore(tmp_path).create(cfg)
    assert run_training(run) == "completed", run.status()
    losses = [m for m in run.metrics() if "loss" in m]
    assert [m["step"] for m in losses] == [1, 2]
    assert_every_lora_tensor_trained(run.checkpoints_dir / "checkpoint-1", run.adapter_dir,
                                     LORA_MODULES)


def test_dpo_on_conversations_fails_with_a_clear_message(tmp_path, tiny_config):
    run = RunStore(tmp_path).create(dataclasses.replace(tiny_config, method="dpo"))
    assert run_training(run) == "failed"
    assert "no chosen/rejected pairs" in run.status()["error"]
