"""What the bad-settings and fault tests share: the Train form as a page sends it, a step hook,
a studio in a process of its own that a test can kill, and a small disk that fills up.

``form_values`` loads the identity preset through the page's API and points it at the tiny model,
as a person would fill the form. ``on_step`` makes a chosen training step run a test's function
first (raise, or wait for a Stop), in this process. ``StudioProcess`` runs the studio with
``python -m tests.reliability.faults_support`` (the same app ``tests.ui_server`` builds) so a test
can SIGKILL it mid-run and start it again; ``--hold-at-step`` parks that run inside a step, so
the kill lands at a known point without any sleep. ``small_disk`` mounts a tmpfs of a given size
(skipping the test where mounting is not allowed) and unmounts it afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from studio.engine.workspace import PRESETS

ROOT = Path(__file__).resolve().parents[2]
IDENTITY = str(PRESETS / "identity-lora.yaml")
# A short, quiet run of the tiny model: no probes, no checkpoints unless a test asks for them.
TINY_RUN = {"max_steps": 6, "batch_size": 4, "max_length": 128, "dtype": "float32",
            "probe_steps": 0, "probe_prompts": "Who are you?", "save_steps": 100}


def form_values(client, model_dir, **changes) -> list:
    """The Train form as the page sends it: the identity preset, on the tiny model, made short."""
    from studio.ui.train.form import FORM_FIELDS

    values = list(client.predict(IDENTITY, "en", api_name="/load_preset")[: len(FORM_FIELDS)])
    for name, value in {"model": str(model_dir), **TINY_RUN, **changes}.items():
        values[FORM_FIELDS.index(name)] = value
    return values


def poll_until(client, run_id: str, predicate, timeout: float = 120.0):
    """``/poll`` until ``predicate(outputs)``; the outputs."""
    deadline, out = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        out = client.predict(run_id, "en", api_name="/poll")
        if predicate(out):
            return out
        time.sleep(0.3)
    raise AssertionError(f"/poll never satisfied the condition; last: {str(out)[:400]}")


def finished(out) -> bool:
    """A /poll answer for a run that is no longer queued or running."""
    return not any(word in out[0] for word in ("queued", "running"))


def run_ids(runs_dir: Path) -> set[str]:
    return {p.name for p in Path(runs_dir).iterdir()} if Path(runs_dir).exists() else set()


def on_step(monkeypatch, hook) -> None:
    """Call ``hook(step)`` (1-based) at the start of every training step of this process."""
    from studio.engine.train.sft import StudioSFTTrainer

    original = StudioSFTTrainer.training_step

    def training_step(self, *args, **kwargs):
        hook(self.state.global_step + 1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(StudioSFTTrainer, "training_step", training_step)


# ------------------------------------------------------------------- a studio to kill
class StudioProcess:
    """The studio in a child process of its own session (so a SIGKILL takes all of it)."""

    def __init__(self, workspace: Path, allow: Path, folder: Path, hold_at_step: int = 0):
        self.url_file = folder / f"url-{time.monotonic_ns()}.txt"
        self.held_file = folder / "held"
        cmd = [sys.executable, "-m", "tests.reliability.faults_support",
               "--workspace", str(workspace), "--allow-path", str(allow),
               "--url-file", str(self.url_file)]
        if hold_at_step:
            cmd += ["--hold-at-step", str(hold_at_step), "--held-file", str(self.held_file)]
        self.log = open(folder / "server.log", "ab")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def url(self, timeout: float = 180.0) -> str:
        return self.wait_for(self.url_file, timeout).read_text().strip()

    def wait_for(self, path: Path, timeout: float = 180.0) -> Path:
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"the studio exited ({self.proc.returncode}); see "
                                     f"{self.log.name}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{path.name} never appeared; see {self.log.name}")
            time.sleep(0.2)
        return path

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def _hold_at(step: int, held_file: Path) -> None:
    """Park the run inside training step ``step``, after saying so in ``held_file``."""
    from studio.engine.train.sft import StudioSFTTrainer

    original = StudioSFTTrainer.training_step

    def training_step(self, *args, **kwargs):
        if self.state.global_step + 1 >= step:
            held_file.write_text(str(step))
            threading.Event().wait()  # until the test kills this process
        return original(self, *args, **kwargs)

    StudioSFTTrainer.training_step = training_step


def serve(argv: list[str] | None = None) -> None:
    """Serve the studio until killed; the URL goes to ``--url-file`` once it answers."""
    from studio.engine.workspace import Workspace
    from tests.ui_server import launch_studio

    p = argparse.ArgumentParser()
    p.add_argument("--workspace", required=True)
    p.add_argument("--allow-path", action="append", default=[])
    p.add_argument("--url-file", required=True)
    p.add_argument("--hold-at-step", type=int, default=0)
    p.add_argument("--held-file", default="")
    args = p.parse_args(argv)
    if args.hold_at_step:
        _hold_at(args.hold_at_step, Path(args.held_file))
    _, url = launch_studio(Workspace(args.workspace, args.allow_path))
    tmp = Path(args.url_file + ".tmp")
    tmp.write_text(url)
    tmp.rename(args.url_file)  # whole, or not at all: the test reads it as soon as it exists
    threading.Event().wait()


# ------------------------------------------------------------------- a disk that fills up
@contextlib.contextmanager
def small_disk(folder: Path, size: str):
    """A tmpfs of ``size`` (``800k``) mounted at ``folder``; skips the test if mount is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                  str(folder)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a small tmpfs here: {exc}")
    if mounted.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


if __name__ == "__main__":
    serve()
