"""A run whose process died mid-training is found ``interrupted`` and Resume finishes it.

A dead studio is simulated from a real run: it trains, is stopped at an exact step, and its
folder is then put back the way a killed process leaves it: ``status.json`` says ``running``
with the pid of a process that has exited, there is no final adapter (only a killed process's
checkpoints), and ``metrics.jsonl`` holds every step it logged. The store must mark it
``interrupted`` and ``JobManager.resume`` must finish it from its last checkpoint.
"""

from __future__ import annotations

import shutil

import pytest

from studio.engine.runs import RunStore
from studio.engine.train.config import TrainConfig
from studio.engine.train.job import JobManager, run_training
from tests.conftest import ROOT
from tests.training import StopAtStep, dead_pid

TOTAL = 4


def killed_run(tmp_path, tiny_model_dir, died_after: int, last_checkpoint: int):
    """A run killed right after logging step ``died_after``, with ``checkpoint-<last_checkpoint>``
    its newest checkpoint on disk."""
    store = RunStore(tmp_path / "runs")
    cfg = TrainConfig(model=str(tiny_model_dir), dataset=str(ROOT / "assets" / "identity.json"),
                      name="Nova", author="Acme Lab", max_steps=TOTAL, batch_size=4,
                      learning_rate=1e-2, save_steps=2, probe_steps=0, max_length=128,
                      probe_prompts=["Who are you?"], dtype="float32")
    run = store.create(cfg)
    assert run_training(run, StopAtStep(run, died_after)) == "stopped"
    shutil.rmtree(run.adapter_dir)  # a killed process never saved its final adapter
    for ckpt in run.checkpoints_dir.glob("checkpoint-*"):
        if int(ckpt.name.split("-")[1]) > last_checkpoint:
            shutil.rmtree(ckpt)  # nor the checkpoint Stop wrote on the way out
    assert run.last_checkpoint().name == f"checkpoint-{last_checkpoint}"
    run.update_status(state="running", pid=dead_pid(), ended_at=None)
    return store, run


def interrupted_then_resumed(store, run) -> list[int]:
    """Restart the studio (mark_interrupted), check the listing, resume; the logged steps."""
    assert store.mark_interrupted() == [run.id]
    listed = {s["id"]: s for s in (r.summary() for r in store.list())}
    assert listed[run.id]["state"] == "interrupted"
    assert "Resume" in run.status()["error"]
    jobs = JobManager(store)
    jobs.resume(run.id)
    jobs.wait(120)
    status = run.status()
    assert status["state"] == "completed", status
    assert status["step"] == status["total_steps"] == TOTAL
    assert (run.adapter_dir / "adapter_model.safetensors").exists()
    return [m["step"] for m in run.metrics() if "loss" in m]


@pytest.fixture(scope="module")
def between_checkpoints(tmp_path_factory, tiny_model_dir):
    """Killed after step 3 with checkpoint-2 its last, then resumed: the run and its steps."""
    store, run = killed_run(tmp_path_factory.mktemp("killed"), tiny_model_dir, died_after=3,
                            last_checkpoint=2)
    return run, interrupted_then_resumed(store, run)


def test_killed_right_after_a_checkpoint_resumes_and_logs_each_step_once(tmp_path,
                                                                         tiny_model_dir):
    store, run = killed_run(tmp_path, tiny_model_dir, died_after=2, last_checkpoint=2)
    assert interrupted_then_resumed(store, run) == list(range(1, TOTAL + 1))


def test_killed_between_checkpoints_resumes_from_the_last_one(between_checkpoints):
    run, steps = between_checkpoints
    assert sorted(set(steps)) == list(range(1, TOTAL + 1))  # every step logged
    assert steps[-1] == TOTAL and steps == sorted(steps)
    assert "resuming from checkpoint-2" in run.log_path.read_text(encoding="utf-8")


def test_killed_between_checkpoints_logs_each_step_once(between_checkpoints):
    # Resuming from checkpoint-2 redoes step 3; its first attempt's lines are dropped, so the
    # loss chart draws each step once.
    _, steps = between_checkpoints
    assert steps == list(range(1, TOTAL + 1))
