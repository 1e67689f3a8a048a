"""The training job: TrainConfig in, a finished run folder out, built on TRL.

``run_training`` does one job in the calling thread: it runs the config's method
(``sft.train_sft``, ``preference.train_preference`` or ``grpo.train_grpo``) with the run-folder
callback and saves the final adapter or model. It never raises for a user's mistake: bad data, a
missing model or running out of memory end the run as ``failed`` with the message in
``status.json``. ``JobManager`` starts, stops and resumes such jobs
through the device arbiter (``studio.engine.device``), which runs one job at a time on a worker
thread, so a web page can start, stop and resume runs without ever blocking or dying with them.
A completed run whose config asks for it is followed by its forgetting check
(``studio.engine.scoring.forgetting``) on the same worker; the check gives way to any job started
while it runs, and ``check_forgetting`` runs it again on demand.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
import threading
import time
import traceback

import torch

from studio.engine.device import Device
from studio.engine.errors import USER_ERRORS, Reason, RunStateError
from studio.engine.runs import FINISHED_WITH_WEIGHTS, RESUMABLE, Run, RunStore, process_started
from studio.engine.scoring import forgetting
from studio.engine.train.config import PREFERENCE_METHODS, TrainConfig, check
from studio.engine.train.preflight import check_ready
from studio.engine.train.start import start_adapter

# Less free space than this beside a failed run means the disk filled up (a checkpoint is
# megabytes at least; what is left after a failed write is the tail of one page).
FULL_DISK_BYTES = 1024 * 1024


def _method(name: str):
    # Imported when a job runs, not when the page starts: TRL and its trainers take seconds to
    # import and the studio's first paint must not wait for them.
    if name in PREFERENCE_METHODS:
        from studio.engine.train.preference import train_preference

        return train_preference
    if name == "grpo":
        from studio.engine.train.grpo import train_grpo

        return train_grpo
    from studio.engine.train.sft import train_sft

    return train_sft  # sft and pt (continued pre-training) share the SFT trainer


def save_final(cfg: TrainConfig, run: Run, trainer, tokenizer) -> None:
    target = run.adapter_dir if cfg.finetuning_type in ("lora", "qlora") else run.model_dir
    if trainer.accelerator.num_processes > 1:
        # Every rank takes part (FSDP and ZeRO-3 gather the shards); only rank 0 writes.
        trainer.save_model(str(target))
        if not trainer.is_world_process_zero():
            return
    elif hasattr(trainer.model, "peft_config"):
        # Only the trained adapter: a run started from another keeps a frozen "ref" copy beside
        # it (the reference model), which is not part of the result.
        trainer.model.save_pretrained(str(target), safe_serialization=True,
                                      selected_adapters=["default"])
    else:
        trainer.model.save_pretrained(str(target), safe_serialization=True)
    tokenizer.save_pretrained(str(target))  # the chat template travels with the weights
    run.log(f"saved {target.name}/ to {target}")


def _failure_message(exc: BaseException, run: Run | None = None) -> str:
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
        return str(Reason("out_of_memory"))
    if run is not None and _disk_full(exc, run):
        return str(Reason("disk_full"))
    if isinstance(exc, USER_ERRORS):
        return str(exc)
    return str(Reason("run_crashed", {"detail": f"{type(exc).__name__}: {exc}"}))


def _disk_full(exc: BaseException, run: Run) -> bool:
    """Whether ``exc`` came from a full disk: ENOSPC somewhere in its chain, or (torch.save and
    safetensors report a failed write in words of their own) almost no space left beside it."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if "no space left" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        return shutil.disk_usage(run.path).free < FULL_DISK_BYTES
    except OSError:
        return False


def run_training(run: Run, stop_event: threading.Event | None = None,
                 dataset_path: str | None = None) -> str:
    """Train ``run`` (fresh, or resumed from its last checkpoint); returns the final state."""
    stop_event = stop_event or threading.Event()
    try:  # everything inside: a full disk at any point must end the run "failed", not "running"
        resume_from = run.last_checkpoint()
        if resume_from is None:
            run.clear_progress()  # a restart from scratch must not append to the old curves
        else:
            run.trim_progress(int(resume_from.name.split("-")[-1]))
        # This process owns the run now: a stale pid would let it be marked interrupted or
        # deleted; its start time tells this process from a later one given the same pid.
        run.update_status(state="running", pid=os.getpid(), pid_started=process_started(),
                          started_at=run.status().get("started_at") or time.time(),
                          ended_at=None, error=None)
        run.reserve_space()
        cfg = check(run.config())
        trained = _method(cfg.method)(cfg, run, stop_event, dataset_path or cfg.dataset,
                                      resume_from)
        if trained is not None:
            save_final(cfg, run, *trained)
        state = "stopped" if stop_event.is_set() else "completed"
    except BaseException as exc:  # the server must outlive any failure of the job
        _record_failure(run, exc)
        if not isinstance(exc, Exception):
            raise
        return "failed"
    run.release_space()
    run.update_status(state=state, ended_at=time.time())
    run.log(f"run {state}")
    return state


def train_run(run: Run, stop_event: threading.Event, dataset_path: str | None = None) -> str:
    """Train ``run`` where its config says: in this thread, or (isolated, distributed) in a
    child process group through ``accelerate launch``; returns the final state."""
    if run.config().launch == "this_process":
        return run_training(run, stop_event, dataset_path)
    from studio.engine.train.launch import run_launched

    return run_launched(run, stop_event, dataset_path)


def _record_failure(run: Run, exc: BaseException) -> None:
    """Write the failure to the run folder: the message in ``status.json`` and on the log's
    line (what pages show), the traceback under it in ``log.txt`` (for the operator). A full
    disk first gets back the run's reserve and the half-written checkpoint; if even then the
    status cannot be written, say it on stderr rather than lose the job thread."""
    message = _failure_message(exc, run)
    run.release_space()
    dropped = run.drop_incomplete_checkpoints() if message == str(Reason("disk_full")) else []
    try:
        run.update_status(state="failed", error=message, ended_at=time.time(),
                          traceback="log.txt")
    except OSError as write_error:
        print(f"run {run.id} failed ({message}) and its status could not be written: "
              f"{write_error}", file=sys.stderr)
        return
    try:  # the status is what matters; the log is best effort on a full disk
        if dropped:
            run.log(f"removed half-written {', '.join(dropped)}")
        run.log(f"FAILED: {message}\n" + traceback.format_exc().rstrip())
    except OSError:
        pass


def ensure_resumable(run: Run) -> None:
    state = run.status().get("state")
    if state not in RESUMABLE:
        raise RunStateError("run_not_resumable", run=run.id, state=state)


class TrainingJob:
    """One run training on the device (the arbiter's ``Job``)."""

    kind = "training"

    def __init__(self, dataset_path: str | None = None, exams: dict | None = None):
        self.run: Run | None = None  # set once the device is ours (a refused start makes none)
        self.dataset_path = dataset_path
        self.exams = exams  # exam -> folder for the forgetting check (None: from the config)
        self.stop_event = threading.Event()
        self.state = ""

    def busy_reason(self) -> Reason:
        return Reason("busy_training", {"run": self.run.id})

    def work(self) -> None:
        try:
            forgetting.before_training(self.run)
        except Exception:  # a card that cannot say "a check follows" must not stop the run
            pass
        self.state = train_run(self.run, self.stop_event, self.dataset_path)

    def follow_up(self):
        """The run's forgetting check, when it completed and its config asks for one."""
        try:
            return forgetting.after_training(self.run, self.state, self.exams)
        except Exception:  # an unreadable config after training: the run itself is done
            try:
                (self.run.path / forgetting.RECORD).unlink(missing_ok=True)  # no card waiting
            except OSError:
                pass
            return None

    def stop(self) -> None:
        self.stop_event.set()
        self.run.log("stop requested")


class JobManager:
    """Start, stop and resume training runs; the device decides whether one may start."""

    def __init__(self, store: RunStore, device: Device | None = None):
        self.store = store
        self.device = device or Device()

    def active(self) -> Run | None:
        job = self.device.active("training")
        return job.run if job else None

    def start(self, cfg: TrainConfig, dataset_path: str | None = None,
              exams: dict | None = None) -> Run:
        # Model, data, memory and the check's exam folders are judged before the run folder
        # exists: a run that cannot start must not fill the Runs list with failures.
        check_ready(cfg, dataset_path, exams)
        start_adapter(cfg, self.store)  # a run to continue that cannot be is said now
        job = TrainingJob(dataset_path, exams)

        def create_run():
            job.run = self.store.create(cfg)

        return self.device.start(job, before_start=create_run).run

    def resume(self, run_id: str, dataset_path: str | None = None,
               exams: dict | None = None) -> Run:
        run = self.store.resolve(run_id)
        job = TrainingJob(dataset_path, exams)

        def queue_run():
            ensure_resumable(run)
            run.update_status(state="queued")
            job.run = run

        return self.device.start(job, before_start=queue_run).run

    def stop(self, run_id: str | None = None) -> bool:
        job = self.device.active("training")
        if job is None or (run_id and job.run.id != run_id):
            return False
        job.stop()
        return True

    def check_forgetting(self, run_id: str, exams: dict | None = None):
        """Run the forgetting check of a finished run again (after it was skipped, say)."""
        run = self.store.resolve(run_id)
        job = forgetting.ForgettingJob(run, exams)

        def ready():
            state = run.status().get("state")
            if state not in FINISHED_WITH_WEIGHTS or run.weights_dir() is None:
                raise RunStateError("forgetting_needs_weights", run=run.id, state=state)
            job.queue()  # a page polling right after the click sees the check under way

        return self.device.start(job, before_start=ready)

    def checking(self, run_id: str | None = None):
        """The forgetting check running now (of ``run_id``, if given), else None."""
        job = self.device.active("forgetting")
        return job if job and (not run_id or job.run.id == run_id) else None

    def wait(self, timeout: float | None = None) -> None:
        self.device.wait(timeout)
