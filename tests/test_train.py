"""The training engine on the tiny model: weights change, the run folder is exact, stop, resume,
failures and interrupted runs."""

import dataclasses
import os

import pytest
import torch
from safetensors.torch import load_file

from studio.engine.errors import BusyError
from studio.engine.runs import RunStore
from studio.engine.train.job import JobManager, run_training
from tests.training import StopAtStep, assert_every_lora_tensor_trained

RUN_FILES = {"config.yaml", "status.json", "metrics.jsonl", "samples.jsonl", "log.txt",
             "checkpoints", "adapter"}


def _train(store, cfg):
    run = store.create(cfg)
    return run, run_training(run)


def test_lora_run_trains_and_leaves_exact_folder(tmp_path, tiny_config):
    run, state = _train(RunStore(tmp_path), tiny_config)
    assert state == "completed", run.status()
    assert {p.name for p in run.path.iterdir()} == RUN_FILES
    assert {p.name for p in run.checkpoints_dir.glob("checkpoint-*")} == {"checkpoint-2",
                                                                         "checkpoint-4"}
    assert (run.adapter_dir / "adapter_config.json").exists()
    assert (run.adapter_dir / "chat_template.jinja").exists()
    status = run.status()
    assert (status["step"], status["total_steps"], status["error"]) == (4, 4, None)
    losses = [m for m in run.metrics() if "loss" in m]
    assert [m["step"] for m in losses] == [1, 2, 3, 4]
    assert all({"lr", "grad_norm", "elapsed_s", "train_s", "epoch"} <= set(m) for m in losses)
    assert all("tokens_per_s" in m for m in losses)
    # Only the first step is marked warm-up; training time never exceeds wall time.
    assert [m.get("warmup", False) for m in losses] == [True, False, False, False]
    assert all(m["train_s"] <= m["elapsed_s"] for m in losses)
    assert [s["step"] for s in run.samples()] == [0, 2, 4]
    assert all(s["probe_s"] >= 0 for s in run.samples())
    # all-linear on 2 layers: 7 adapted projections each; every A and B moved (see the helper).
    assert_every_lora_tensor_trained(run.checkpoints_dir / "checkpoint-2", run.adapter_dir, 14)


def test_full_finetune_changes_weights_and_saves_model(tmp_path, tiny_config, tiny_model_dir):
    cfg = dataclasses.replace(tiny_config, finetuning_type="full", max_steps=2, learning_rate=1e-3,
                              probe_steps=0, val_fraction=0.2)
    run, state = _train(RunStore(tmp_path), cfg)
    assert state == "completed", run.status()
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(run.model_dir / "model.safetensors")
    assert set(after) == set(before)
    # Full fine-tuning trains every tensor (embeddings, attention, MLP, norms): none may be equal.
    unchanged = [k for k in before if torch.equal(before[k], after[k].to(before[k].dtype))]
    assert unchanged == []
    assert any("eval_loss" in m for m in run.metrics())


def test_stop_saves_usable_adapter_and_resume_finishes(tmp_path, tiny_config):
    store = RunStore(tmp_path)
    cfg = dataclasses.replace(tiny_config, max_steps=6, save_steps=100, probe_steps=0)
    run = store.create(cfg)
    assert run_training(run, StopAtStep(run, 2)) == "stopped"
    assert run.status()["step"] == 2  # Stop finishes the step it is in, then ends
    assert (run.adapter_dir / "adapter_model.safetensors").exists()
    assert run.last_checkpoint().name == "checkpoint-2"  # saved on Stop (save_steps is 100)

    jobs = JobManager(store)
    jobs.resume(run.id)
    jobs.wait()
    assert run.status()["state"] == "completed"
    assert run.status()["step"] == 6
    steps = [m["step"] for m in run.metrics() if "loss" in m]
    assert steps == [1, 2, 3, 4, 5, 6]  # resumed after the stop, no step repeated


def test_second_start_is_refused_while_busy(tmp_path, tiny_config):
    jobs = JobManager(RunStore(tmp_path))
    first = jobs.start(dataclasses.replace(tiny_config, max_steps=30, probe_steps=0))
    try:
        with pytest.raises(BusyError, match=first.id):
            jobs.start(tiny_config)
    finally:
        jobs.stop(first.id)
        jobs.wait()
    assert first.status()["state"] == "stopped"


def test_bad_data_fails_the_run_not_the_server(tmp_path, tiny_config):
    bad = tmp_path / "bad.json"
    # questions without answers: readable (GRPO answers them), but nothing for SFT to learn
    bad.write_text('[{"instruction": "hi"}]')
    cfg = dataclasses.replace(tiny_config, dataset=str(bad))
    run, state = _train(RunStore(tmp_path / "runs"), cfg)
    assert state == "failed"
    assert "bad.json: no usable rows" in run.status()["error"]
    assert "row 1, messages: no assistant answer to learn from" in run.status()["error"]
    assert "Traceback" in run.log_path.read_text()


def test_missing_model_fails_with_plain_message(tmp_path, tiny_config):
    cfg = dataclasses.replace(tiny_config, model=str(tmp_path / "no-such-model"))
    run, state = _train(RunStore(tmp_path / "runs"), cfg)
    assert state == "failed" and "was not found" in run.status()["error"]


def test_dead_process_runs_become_interrupted(tmp_path, tiny_config):
    store = RunStore(tmp_path)
    run = store.create(tiny_config)
    run.update_status(state="running", pid=2**22 + 12345)  # no such process
    alive = store.create(tiny_config)
    alive.update_status(state="running", pid=os.getppid())
    assert store.mark_interrupted() == [run.id]
    assert run.status()["state"] == "interrupted"
    assert alive.status()["state"] == "running"


def test_model_paths_named_in_the_browser_stay_in_the_workspace(tmp_path, tiny_model_dir):
    from studio.engine.errors import PathError
    from studio.engine.workspace import Workspace

    closed = Workspace(tmp_path)
    assert closed.model_source("smollm2-135m-instruct") == "smollm2-135m-instruct"
    assert closed.model_source("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    with pytest.raises(PathError, match="outside the workspace"):
        closed.model_source(str(tiny_model_dir))
    opened = Workspace(tmp_path, [tiny_model_dir.parent])
    assert opened.model_source(str(tiny_model_dir)) == str(tiny_model_dir.resolve())


def test_run_ids_cannot_name_folders_outside_the_store(tmp_path):
    store = RunStore(tmp_path / "runs")
    (tmp_path / "status.json").write_text("{}")
    for bad in ("..", ".", "", "../runs"):
        with pytest.raises(FileNotFoundError):
            store.get(bad)
