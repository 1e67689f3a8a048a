"""A run's state stays true when the disk fills up or the system reuses its process id.

A full disk at any moment of a job ends the run ``failed`` with the reason, and the job thread
never dies with the run still marked ``running``; when not even the status can be written, the
job still ends and says so on stderr. A run whose process died is ``interrupted`` after a
restart even if another program has since been given the same pid.
"""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from studio.engine.runs import Run, RunStore, process_started
from studio.engine.train.job import run_training

pytestmark = pytest.mark.reliability


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_before_training_fails_the_run_with_the_reason(tmp_path, tiny_config,
                                                                     monkeypatch):
    run = RunStore(tmp_path / "runs").create(tiny_config)
    monkeypatch.setattr(Run, "clear_progress", disk_full)
    assert run_training(run) == "failed"
    status = run.status()
    assert status["state"] == "failed" and "disk holding the run folder is full" in status["error"]


def test_a_disk_too_full_for_the_status_still_ends_the_job(tmp_path, tiny_config, monkeypatch,
                                                           capsys):
    run = RunStore(tmp_path / "runs").create(tiny_config)
    monkeypatch.setattr(Run, "clear_progress", disk_full)
    monkeypatch.setattr(Run, "update_status", disk_full)
    assert run_training(run) == "failed"  # returned, not raised: the job thread lives on
    assert f"run {run.id} failed" in capsys.readouterr().err


def test_a_reused_pid_does_not_keep_a_dead_run_alive(tmp_path, tiny_config):
    store = RunStore(tmp_path / "runs")
    dead, alive = store.create(tiny_config), store.create(tiny_config, label="alive")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # The dead run's process is gone and ``other`` now holds its pid, started later.
        dead.update_status(state="running", pid=other.pid,
                           pid_started=process_started(other.pid) - 3600)
        alive.update_status(state="running", pid=other.pid,
                            pid_started=process_started(other.pid))
        assert store.mark_interrupted() == [dead.id]
        assert dead.status()["state"] == "interrupted"
        assert alive.status()["state"] == "running"
    finally:
        other.kill()
        other.wait()


def test_a_status_write_on_a_full_disk_keeps_the_old_status_and_no_temporary(tmp_path,
                                                                             tiny_config,
                                                                             monkeypatch):
    from pathlib import Path

    run = RunStore(tmp_path / "runs").create(tiny_config)
    before = run.status()
    real_write = Path.write_text

    def half_written(self, text, *args, **kwargs):  # the disk fills in the middle of a write
        real_write(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_written)
    with pytest.raises(OSError):
        run.update_status(state="running", step=3)
    monkeypatch.undo()
    assert run.status() == before
    assert sorted(p.name for p in run.path.iterdir() if ".tmp" in p.name) == []
