"""The device arbiter: one training or scoring job at a time, refusals that name the job.

A ``Blocker`` holds the device until the test releases it, so every check is exact (no timing).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from studio.engine.device import Device
from studio.engine.errors import BusyError, Reason
from studio.engine.runs import RunStore
from studio.engine.scoring.job import ScoringJob, Side
from studio.engine.train.job import JobManager

EXAM = Path(__file__).resolve().parents[1] / "assets" / "sample-exam" / "en"


class Blocker:
    """A job that holds the device until ``release()``."""

    def __init__(self, kind: str):
        self.kind, self.started, self._go = kind, threading.Event(), threading.Event()
        self.stopped = False

    def busy_reason(self) -> Reason:
        return Reason("busy_scoring", {"name": "blocker"})

    def work(self) -> None:
        self.started.set()
        self._go.wait(30)

    def stop(self) -> None:
        self.stopped = True
        self._go.set()

    def release(self) -> None:
        self._go.set()


@pytest.fixture()
def device():
    dev = Device()
    yield dev
    for kind in ("training", "scoring"):
        job = dev.latest(kind)
        if job is not None and hasattr(job, "release"):
            job.release()
    dev.wait(30)


def test_a_second_job_is_refused_naming_the_first(device):
    first = device.start(Blocker("scoring"))
    assert first.started.wait(10)
    with pytest.raises(BusyError, match=r"A scoring job \(blocker\) is using this device"):
        device.start(Blocker("training"))
    assert device.active() is first and device.active("training") is None
    first.release()
    device.wait(10)
    assert device.active() is None
    second = device.start(Blocker("training"))  # free again: the next job starts
    assert second.started.wait(10) and device.active("training") is second


def test_stop_reaches_the_active_job_only(device):
    assert device.stop() is None  # nothing running: nothing to stop
    job = device.start(Blocker("training"))
    assert device.stop("scoring") is None and not job.stopped
    assert device.stop("training") is job and job.stopped


def test_training_is_refused_while_scoring_holds_the_device(device, tmp_path, tiny_config):
    store = RunStore(tmp_path / "runs")
    jobs = JobManager(store, device)
    device.start(Blocker("scoring")).started.wait(10)
    with pytest.raises(BusyError, match="scoring job"):
        jobs.start(tiny_config)
    assert store.list() == []  # a refused start leaves no run folder behind
    assert jobs.active() is None and jobs.stop() is False


def test_scoring_is_refused_while_training_holds_the_device(device, tmp_path, tiny_config,
                                                            tiny_model_dir):
    store = RunStore(tmp_path / "runs")
    jobs = JobManager(store, device)
    stop_at_first_step = tiny_config.__class__(**{**tiny_config.__dict__, "max_steps": 200,
                                                  "save_steps": 1000, "probe_steps": 0})
    run = jobs.start(stop_at_first_step)
    try:
        job = ScoringJob([Side("base", str(tiny_model_dir))], "mmlu", str(EXAM),
                         ["general_science"], shots=0, limit=1, dtype="float32")
        with pytest.raises(BusyError, match=f"Run {run.id} is training on this device"):
            job.start(device)
        assert job.state == "idle" and device.latest("scoring") is None
    finally:
        jobs.stop()
        jobs.wait(120)
    assert run.status()["state"] == "stopped"
