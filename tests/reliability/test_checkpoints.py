"""A checkpoint cut short (a crash or a full disk mid-save) never breaks Resume.

The trainer writes ``trainer_state.json`` last, so a checkpoint folder without a readable one is
incomplete. The run here trains to the end, then is made to look as if the machine died while
writing its newest checkpoint; Resume must continue from the one before, redo the lost steps
once, and finish.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from studio.engine.runs import RunStore
from studio.engine.train.job import JobManager, run_training

pytestmark = pytest.mark.reliability


def test_resume_uses_the_newest_complete_checkpoint(tmp_path, tiny_config):
    store = RunStore(tmp_path / "runs")
    run = store.create(replace(tiny_config, max_steps=6, save_steps=2, probe_steps=0))
    assert run_training(run) == "completed"
    newest = run.checkpoints_dir / "checkpoint-6"
    (newest / "trainer_state.json").write_text('{"global_step": 6, "log_hi')  # cut mid-write
    (newest / "adapter_model.safetensors").write_bytes(b"\0" * 100)
    run.update_status(state="interrupted")  # as a server restart marks a run it lost

    assert run.last_checkpoint().name == "checkpoint-4"
    jobs = JobManager(store)
    jobs.resume(run.id)
    jobs.wait(120)
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    assert status["step"] == 6
    steps = [m["step"] for m in run.metrics() if "loss" in m]
    assert steps == [1, 2, 3, 4, 5, 6]  # steps 5 and 6 redone, each drawn once
    assert run.last_checkpoint().name == "checkpoint-6"  # rewritten whole this time
