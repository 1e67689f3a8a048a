"""A scoring job in a background thread: one or two models scored, with progress and Stop.

The Scoring tab starts a ``ScoringJob`` and polls ``snapshot()``; the page never waits on the
model. Two sides that share a base model (base vs tuned) load it once: the tuned side runs with
the adapter, the base side inside ``adapter_disabled``. Stop ends the current side after its
batch; every side keeps and saves what it scored, marked ``stopped`` (the page shows it as
partial), and a side stopped before its first question is neither kept nor saved, so no 0 % score
appears that nothing earned. Results go to the run's ``eval/`` folder when a side is a run's
adapter (both sides of a base-vs-tuned comparison), else to ``save_dir``.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from studio.engine.device import Device
from studio.engine.errors import USER_ERRORS, Reason
from studio.engine.runs import run_of
from studio.engine.scoring.evaluate import evaluate, plan
from studio.engine.scoring.loading import adapter_disabled, load_for_eval, resolve_adapter
from studio.engine.scoring.results import save_result


@dataclass
class Side:
    label: str                  # "base", "tuned", or a model's name
    model: str | None           # model id or folder
    adapter: str | None = None  # run id, run folder or adapter folder
    use_adapter: bool = True    # False: score the base weights of the adapter's model


@dataclass
class ScoringJob:
    """Scoring one or more sides on the device (the arbiter's ``Job``)."""

    kind = "scoring"
    sides: list[Side]
    benchmark: str
    data_dir: str | None
    subjects: list[str] | None = None
    split: str | None = None
    shots: int = 5
    fmt: str = "plain"
    limit: int | None = None
    dtype: str = "auto"
    runs_dir: str | None = None
    save_dir: str | None = None
    batch_size: int = 8
    results: dict = field(default_factory=dict)      # label -> result
    saved: dict = field(default_factory=dict)        # label -> path
    state: str = "idle"         # idle | running | done | stopped | failed
    failure: Exception | None = field(default=None, repr=False)  # why the job failed
    done: int = 0
    total: int = 0
    current: str = ""
    started_at: float = 0.0
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])  # what a page polls by

    def __post_init__(self):
        self._stop = threading.Event()
        self._finished = threading.Event()

    def start(self, device: Device | None = None) -> ScoringJob:
        """Check the data (raises on bad input), then score on the device's worker thread
        (BusyError while another job holds the device)."""
        per_side = sum(len(e["questions"]) for e in plan(
            self.benchmark, self.data_dir, self.subjects, self.split, self.shots, self.limit))

        def begin():
            self.total, self.state = per_side * len(self.sides), "running"
            self.started_at = time.time()

        (device or Device()).start(self, before_start=begin)
        return self

    def busy_reason(self) -> Reason:
        return Reason("busy_scoring", {"name": f"{self.benchmark}: "
                                               f"{', '.join(s.label for s in self.sides)}"})

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._finished.wait(timeout)

    @property
    def error(self) -> str:
        """The failure in English: a user's mistake as its message, a bug with its type (the
        page translates ``failure`` itself)."""
        if self.failure is None:
            return ""
        if isinstance(self.failure, USER_ERRORS):
            return str(self.failure)
        return f"{type(self.failure).__name__}: {self.failure}"

    @property
    def running(self) -> bool:
        return self.state == "running"

    def snapshot(self) -> dict:
        # The page derives the ETA from done/total/elapsed (charts.progress_html), as for training.
        elapsed = time.time() - self.started_at if self.started_at else 0.0
        return {"state": self.state, "done": self.done, "total": self.total,
                "current": self.current, "elapsed_s": elapsed,
                "error": self.error, "labels": list(self.results)}

    def work(self) -> None:
        try:
            self._score_all()
        finally:
            self._finished.set()

    def _score_all(self) -> None:
        try:
            for group in _groups(self.sides):
                model, tokenizer = load_for_eval(group[0].model, group[0].adapter, self.dtype,
                                                 self.runs_dir)
                for side in group:
                    self._score(model, tokenizer, side)
                    if self._stop.is_set():
                        break
                del model
                if self._stop.is_set():
                    break
            self.state = "stopped" if self._stop.is_set() else "done"
        except USER_ERRORS as exc:  # a mistake the user can fix: its message alone
            self.failure = exc
            self.state = "failed"
        except Exception as exc:  # a bug: the page shows the message, the log the traceback
            self.failure = exc
            self.traceback = traceback.format_exc()
            logging.getLogger(__name__).error("scoring failed\n%s", self.traceback)
            self.state = "failed"

    def _score(self, model, tokenizer, side: Side) -> None:
        offset = self.done

        def progress(done, total, subject):
            self.done, self.current = offset + done, f"{side.label} · {subject}"

        meta = {"label": side.label, "model": side.model or "", "adapter":
                side.adapter if side.use_adapter else "", "base_of": "" if side.use_adapter
                else side.adapter or ""}
        scope = adapter_disabled(model) if not side.use_adapter else nullcontext(model)
        with scope:
            result = evaluate(model, tokenizer, self.benchmark, self.data_dir, self.subjects,
                              self.split, self.shots, self.fmt, self.limit, self.batch_size,
                              progress, self._stop, meta)
        if not result["overall"]["n"]:
            return  # stopped before a single answer: nothing to show or save
        self.results[side.label] = result
        folder = self._folder(side)
        if folder is not None:
            self.saved[side.label] = str(save_result(result, folder, side.label))

    def _folder(self, side: Side) -> Path | None:
        if side.adapter:
            weights, _ = resolve_adapter(side.adapter, self.runs_dir)
            run = run_of(weights)
            if run is not None:
                return run.eval_dir
        return Path(self.save_dir) if self.save_dir else None


def _groups(sides: list[Side]) -> list[list[Side]]:
    """Sides that can share one loaded model: same base model and the same (or no) adapter."""
    groups: list[list[Side]] = []
    for side in sides:
        for group in groups:
            head = group[0]
            if head.model == side.model and (side.adapter in (None, head.adapter)) and \
                    (head.adapter or not side.adapter):
                group.append(side)
                break
        else:
            groups.append([side])
    return groups


def base_vs_tuned(model: str | None, adapter: str, runs_dir: str | None = None) -> list[Side]:
    """The two sides of a fine-tune's report: the base weights, then with the adapter.

    ``model`` defaults to the run's base model. A run that saved full weights has no adapter to
    switch off, so its base side loads the base model on its own.
    """
    weights, run_model = resolve_adapter(adapter, runs_dir)
    model = model or run_model
    if (weights / "config.json").exists():
        return [Side("base", model), Side("tuned", model, adapter)]
    return [Side("base", model, adapter, use_adapter=False), Side("tuned", model, adapter)]
