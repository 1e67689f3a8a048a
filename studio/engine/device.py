"""The device arbiter: one heavy job (training, scoring) at a time on this machine's device.

A job that trains or scores takes the whole accelerator, or every CPU core, for minutes; two at
once would each run at half speed at best and run out of memory at worst. Every such job starts
through ``Device.start``, which runs it on a worker thread the page never waits on, and refuses a
second one with a ``BusyError`` that names the job holding the device, unless the job holding it
``yields`` (the forgetting check after a run): then it is told to give way and the new job starts
at once, its worker first waiting a moment for the yielded job to let go of its memory. A job can
name a ``follow_up`` that runs on the same worker when it ends (a run's forgetting check). The
rules live here only: the Train tab, the Runs tab, the Scoring tab and the CLI all get the same
answer. Chat is interactive rather than a job, so it does not claim the device; it only shows a
notice while a job holds it (``studio.engine.chat.targets.training_notice``).
"""

from __future__ import annotations

import threading
from typing import Protocol

from studio.engine.errors import BusyError, Reason

# How long a new job's worker waits for a yielded one to end (it stops after its current batch;
# on a GPU two models at once could run out of memory). The page never waits on this.
YIELD_WAIT_S = 15.0


class Job(Protocol):
    kind: str  # "training", "scoring" or "forgetting"

    def busy_reason(self) -> Reason:
        """What a refused start tells the user, naming this job."""

    def work(self) -> None:
        """Do the job in the calling (worker) thread; never raises for a user's mistake."""

    def stop(self) -> None:
        """Ask the job to end soon, keeping what it has done."""


class Device:
    """One job at a time; the latest job of each kind stays reachable for pages polling it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._job: Job | None = None
        self._thread: threading.Thread | None = None
        self._latest: dict[str, Job] = {}

    def start(self, job: Job, before_start=None) -> Job:
        """Run ``job.work`` on a worker thread, or raise BusyError naming the job in the way
        (a job that ``yields`` is told to ``give_way`` instead, and this one starts at once).

        ``before_start`` runs under the lock once the device is known to be free (for example to
        create the run folder), so nothing is written for a job that is refused.
        """
        with self._lock:
            yielded = self._job if self._busy() else None
            if yielded is not None and not getattr(yielded, "yields", False):
                raise BusyError([yielded.busy_reason()])
            if before_start is not None:
                before_start()
            previous = None
            if yielded is not None:  # only once the new job is sure to start
                yielded.give_way(job)
                previous = self._thread
            self._job, self._latest[job.kind] = job, job
            self._thread = threading.Thread(target=self._run, args=(job, previous),
                                            name=f"{job.kind}-job", daemon=True)
            self._thread.start()
        return job

    def _run(self, job: Job, previous: threading.Thread | None) -> None:
        if previous is not None:
            previous.join(YIELD_WAIT_S)
        while job is not None:
            job.work()
            job = self._follow_up(job)

    def _follow_up(self, job: Job) -> Job | None:
        """The job that ``job`` hands the device to when it ends, installed as the active one."""
        follow = getattr(job, "follow_up", None)
        nxt = follow() if callable(follow) else None
        if nxt is not None:
            with self._lock:
                if self._job is not job:  # another job was started meanwhile: it goes first
                    return None
                self._job, self._latest[nxt.kind] = nxt, nxt
        return nxt

    def active(self, kind: str | None = None) -> Job | None:
        """The job holding the device now (of ``kind``, if given), else None."""
        with self._lock:
            if self._busy() and (kind is None or self._job.kind == kind):
                return self._job
            return None

    def latest(self, kind: str) -> Job | None:
        """The last job of ``kind`` started here, running or finished."""
        return self._latest.get(kind)

    def stop(self, kind: str | None = None) -> Job | None:
        """Ask the active job (of ``kind``) to stop; returns it, or None when nothing ran."""
        job = self.active(kind)
        if job is not None:
            job.stop()
        return job

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
