"""The run store: one folder per training run, the only channel from a job to any page.

A run folder holds ``config.yaml``, ``status.json``, ``metrics.jsonl``, ``samples.jsonl``,
``log.txt``, ``checkpoints/``, the final ``adapter/`` or ``model/`` and ``eval/``. The job writes
it; the UI, the CLI and the tests only read it, so a closed browser tab never changes a run and a
restarted server finds every run where it left it. Runs left ``running`` by a process that has
died are marked ``interrupted`` on start-up and can be resumed. ``RunStore.resolve`` is the one
place that decides whether a name is a run id or a run folder's path. ``page_log_tail`` and
``page_text`` are what a web page may show of a run: the log's own lines without tracebacks, and
no server paths (``log.txt`` on disk keeps everything for the operator).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from studio.engine.errors import RunNotFoundError, RunStateError
from studio.engine.io import append_jsonl, read_jsonl, write_atomic, write_json, write_jsonl
from studio.engine.train.config import TrainConfig, dump_yaml, load_yaml

STATES = ("queued", "running", "completed", "stopped", "failed", "interrupted")
ACTIVE = ("queued", "running")
FINISHED_WITH_WEIGHTS = ("completed", "stopped")
RESUMABLE = ("stopped", "interrupted", "failed")
# Kept free in a training run's folder and given back when the job fails: a disk that filled up
# mid-checkpoint must still take the status that says so, or the run would look stuck running.
RESERVE_BYTES = 64 * 1024
RESERVE_FILE = ".reserve"
_LOG_ENTRY = re.compile(r"^\[\d\d:\d\d:\d\d\] ")  # the stamp Run.log puts on every entry
# An absolute path: a slash that does not continue a word, a number ("3/12") or a URL.
_ABS_PATH = re.compile(r"(?<![\w.~:/-])/[^\s'\"`<>|,;:()\[\]{}]+")


def is_run_folder(path: str | Path) -> bool:
    return (Path(path) / "status.json").is_file()


def run_of(folder: str | Path) -> Run | None:
    """The run a folder is, or whose weights (``adapter/``, ``model/``) it holds; else None."""
    folder = Path(folder)
    for candidate in (folder, folder.parent):
        if is_run_folder(candidate):
            return Run(candidate)
    return None


def page_text(text: str, run: Run | None = None) -> str:
    """``text`` as a web page may show it: a path inside the run folder as ``<run id>/...``,
    any other absolute path by its last part only, so a page never maps the server's disk."""
    if not text:
        return text or ""
    if run is not None:
        text = text.replace(str(run.path), run.id)

    def short(match: re.Match) -> str:
        path = match.group(0)
        tail = len(path) - len(path.rstrip("."))  # a sentence's full stop is not the path's
        name = path[: len(path) - tail].rstrip("/").rsplit("/", 1)[-1]
        return f"…/{name}" + path[len(path) - tail:] if name else path

    return _ABS_PATH.sub(short, text)


def _complete_checkpoint(folder: Path) -> bool:
    try:
        json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return any(folder.glob("*.safetensors"))


def pid_alive(pid: int | None, started: float | None = None) -> bool:
    """Whether process ``pid`` exists and, when ``started`` is known, is the process that was
    started then (the system reuses pids: a dead run's pid may belong to another program)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started is None:
        return True
    import psutil

    try:
        return abs(psutil.Process(pid).create_time() - started) < 1.0
    except psutil.Error:
        return False


def process_started(pid: int | None = None) -> float:
    """When process ``pid`` (default: this one) started, as recorded beside a run's pid."""
    import psutil

    return psutil.Process(pid or os.getpid()).create_time()


def owner_alive(status: dict) -> bool:
    """Whether the process a run's status names is still the one that wrote it."""
    return pid_alive(status.get("pid"), status.get("pid_started"))


@dataclass
class Run:
    """A handle on one run folder; every read goes to disk, so it is always current."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    # --- files
    @property
    def adapter_dir(self) -> Path:
        return self.path / "adapter"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def eval_dir(self) -> Path:
        return self.path / "eval"

    @property
    def log_path(self) -> Path:
        return self.path / "log.txt"

    def weights_dir(self) -> Path | None:
        """The final adapter or full model, whichever this run saved (None before the end)."""
        for d in (self.adapter_dir, self.model_dir):
            if (d / "adapter_config.json").exists() or (d / "config.json").exists():
                return d
        return None

    def config(self) -> TrainConfig:
        return load_yaml(self.path / "config.yaml")

    def status(self) -> dict:
        try:
            return json.loads((self.path / "status.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {"state": "failed", "error": "status.json is missing or unreadable"}

    def metrics(self) -> list[dict]:
        return read_jsonl(self.path / "metrics.jsonl")

    def samples(self) -> list[dict]:
        return read_jsonl(self.path / "samples.jsonl")

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(encoding="utf-8").splitlines()[-lines:])

    def page_log_tail(self, lines: int = 40) -> str:
        """The log as a page shows it: each entry's own line (a traceback continues an entry on
        lines of its own, kept on disk for the operator), with no server paths."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        entries = [line for line in text.splitlines() if _LOG_ENTRY.match(line)]
        return page_text("\n".join(entries[-lines:]), self)

    def last_checkpoint(self) -> Path | None:
        """The newest *complete* checkpoint. The trainer writes ``trainer_state.json`` last, so
        a folder without a readable one was cut short (a crash or a full disk mid-save) and
        resuming from it would fail every time; the one before it is used instead."""
        if not self.checkpoints_dir.exists():
            return None
        found = [p for p in self.checkpoints_dir.glob("checkpoint-*")
                 if p.is_dir() and _complete_checkpoint(p)]
        return max(found, key=lambda p: int(p.name.split("-")[-1]), default=None)

    # --- writes (the job's side)
    def update_status(self, **fields) -> dict:
        status = self.status() if (self.path / "status.json").exists() else {}
        status.update(fields, updated_at=time.time())
        write_json(self.path / "status.json", status, indent=2)
        return status

    def append_metric(self, row: dict) -> None:
        append_jsonl(self.path / "metrics.jsonl", row)

    def append_sample(self, row: dict) -> None:
        append_jsonl(self.path / "samples.jsonl", row)

    def clear_progress(self) -> None:
        for name in ("metrics.jsonl", "samples.jsonl"):
            (self.path / name).unlink(missing_ok=True)

    def trim_progress(self, last_step: int) -> None:
        """Forget metrics and samples after ``last_step``: a run resumed from that checkpoint
        redoes those steps, and each step must be drawn once."""
        for name in ("metrics.jsonl", "samples.jsonl"):
            path = self.path / name
            rows = read_jsonl(path)
            kept = [r for r in rows if r.get("step", 0) <= last_step]
            if len(kept) != len(rows):
                write_jsonl(path, kept, replace=True)

    def reserve_space(self) -> None:
        """Set ``RESERVE_BYTES`` aside for the end of the job (real bytes: a sparse file would
        hold nothing back)."""
        try:
            (self.path / RESERVE_FILE).write_bytes(b"\0" * RESERVE_BYTES)
        except OSError:
            self.release_space()  # a disk already full: nothing to set aside

    def release_space(self) -> None:
        (self.path / RESERVE_FILE).unlink(missing_ok=True)

    def drop_incomplete_checkpoints(self) -> list[str]:
        """Delete the newest checkpoint folder if a failed job left it half-written (resume
        skips it anyway); on a full disk this is the space the failure took. Older folders are
        never touched. Only call it with no job running."""
        if not self.checkpoints_dir.exists():
            return []
        folders = [p for p in self.checkpoints_dir.glob("checkpoint-*")
                   if p.is_dir() and p.name.split("-")[-1].isdigit()]
        newest = max(folders, key=lambda p: int(p.name.split("-")[-1]), default=None)
        if newest is None or _complete_checkpoint(newest):
            return []
        shutil.rmtree(newest, ignore_errors=True)
        return [newest.name]

    def log(self, message: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(f"[{stamp}] {message}\n")

    def summary(self) -> dict:
        """One row for run lists: status, model, dataset, method, duration, final loss."""
        status, cfg = self.status(), None
        try:
            cfg = self.config()
        except Exception:  # a damaged config.yaml still lists the run, marked as such
            pass
        losses = [m["loss"] for m in self.metrics() if m.get("loss") is not None]
        started, ended = status.get("started_at"), status.get("ended_at")
        end = ended or (time.time() if status.get("state") in ACTIVE else status.get("updated_at"))
        return {
            "id": self.id,
            "state": status.get("state", "failed"),
            "model": cfg.model if cfg else "?",
            "dataset": cfg.dataset if cfg else "?",
            "method": f"{cfg.method}/{cfg.finetuning_type}" if cfg else "?",
            "step": status.get("step", 0),
            "total_steps": status.get("total_steps", 0),
            "duration_s": round(end - started, 1) if started and end else None,
            "final_loss": round(losses[-1], 4) if losses else None,
            "created_at": status.get("created_at"),
        }


class RunStore:
    """All runs under one folder, newest first."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def create(self, cfg: TrainConfig, label: str = "") -> Run:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        default = f"{Path(cfg.dataset).stem}-{cfg.method}-{cfg.finetuning_type}"
        slug = re.sub(r"[^A-Za-z0-9]+", "-", cfg.run_name or label or default).strip("-")
        base = f"{stamp}-{slug[:40] or 'run'}"
        path, n = self.root / base, 1
        while path.exists():
            n += 1
            path = self.root / f"{base}-{n}"
        path.mkdir(parents=True)
        run = Run(path)
        write_atomic(path / "config.yaml", dump_yaml(cfg))
        run.update_status(state="queued", created_at=time.time(), pid=os.getpid(), step=0,
                          total_steps=0)
        return run

    def get(self, run_id: str) -> Run:
        name = Path(str(run_id)).name  # a run id never names a path outside the store
        path = self.root / name
        if name in ("", ".", "..") or not is_run_folder(path):
            raise RunNotFoundError("run_not_found", run=run_id, root=str(self.root))
        return Run(path)

    def resolve(self, id_or_path: str | Path) -> Run:
        """A run named by its id in this store or by the path of its folder (anywhere: callers
        that take paths from a browser check them against the workspace first)."""
        text = str(id_or_path or "").strip()
        if text and is_run_folder(self.root / Path(text).name) and Path(text).name == text:
            return self.get(text)
        path = Path(text).expanduser()
        if text and is_run_folder(path):
            return Run(path.resolve())
        return self.get(text)

    def list(self) -> list[Run]:
        runs = [Run(p) for p in self.root.iterdir() if is_run_folder(p)]
        return sorted(runs, key=lambda r: r.id, reverse=True)

    def delete(self, run_id: str) -> None:
        run = self.get(run_id)
        if run.status().get("state") in ACTIVE and owner_alive(run.status()):
            raise RunStateError("run_still_running", run=run_id)
        shutil.rmtree(run.path)

    def mark_interrupted(self) -> list[str]:
        """Runs left active by a process that no longer exists become ``interrupted``."""
        marked = []
        for run in self.list():
            status = run.status()
            pid = status.get("pid")
            # At start-up no job of ours is running yet, so our own pid is stale as well.
            if status.get("state") in ACTIVE and (pid == os.getpid() or not owner_alive(status)):
                run.update_status(state="interrupted",
                                  error="The studio stopped while this run was training. "
                                        "Resume continues from the last checkpoint.")
                marked.append(run.id)
        return marked
