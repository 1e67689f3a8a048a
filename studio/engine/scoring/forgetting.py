"""The forgetting check: did fine-tuning destroy what the model already knew?

After a run completes, ``ForgettingJob`` (chained after the training job by ``JobManager``)
scores the base and the tuned model on one fixed sample of exam questions: ``draw_sample`` draws
them across the subjects of an MMLU-layout and a C-Eval-layout folder with a fixed seed, so base
and tuned, and every run, answer the same questions. Scoring is the scoring engine's own
(``score_entries``), zero-shot, with one loaded copy of the base weights for a LoRA run. The
result goes to the run folder's ``forgetting.json``: every question right or wrong before and
after, accuracy per exam and overall, the paired difference, McNemar's exact test on the
questions that changed (``mcnemar_p``) and a verdict code (``verdict``). The check never holds
up anything: the device stops it for any other job (``give_way``), it is marked ``skipped`` with
the reason, and the new job starts at once.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import traceback
from contextlib import nullcontext
from pathlib import Path

from studio.engine.errors import USER_ERRORS, ConfigError, Reason, RunStateError, reason_of
from studio.engine.io import write_json
from studio.engine.runs import FINISHED_WITH_WEIGHTS, Run, owner_alive, process_started
from studio.engine.scoring.data import check_split, list_subjects, load_questions

RECORD = "forgetting.json"
EXAMS = {"mmlu": "forgetting_mmlu_dir", "ceval": "forgetting_ceval_dir"}  # exam -> its field
NAMES = {"mmlu": "MMLU", "ceval": "C-Eval"}
SEED = 1234  # one sample for every run of an exam folder, so runs compare with each other too
# Zero-shot: on the bundled model and 2 CPU cores, 5-shot took 1.3-1.5x as long on the sample
# exams and scored no better (the 135M model is near chance either way); a change in what the
# model knows shows without examples in the prompt.
SHOTS = 0
FORMAT = "plain"
ALPHA = 0.05
PROGRESS_EVERY_S = 0.5  # how often a running check rewrites its record for pages to poll
PROJECT = Path(__file__).resolve().parents[3]


# ------------------------------------------------------------------------------- the sample
def exam_folder(text: str) -> Path:
    """A folder a config names: absolute as is, relative to the current folder if it is there,
    else to the project (where the sample exams live, so the defaults work from anywhere)."""
    path = Path(text.strip()).expanduser()
    return path.resolve() if path.is_absolute() or path.exists() else PROJECT / path


def exam_dirs(cfg, resolve=None) -> dict[str, Path]:
    """Exam -> folder for every exam field ``cfg`` fills; ``resolve`` turns a typed path into a
    folder (the browser's workspace rules), else ``exam_folder``."""
    resolve = resolve or exam_folder
    return {exam: Path(resolve(getattr(cfg, name))) for exam, name in EXAMS.items()
            if getattr(cfg, name).strip()}


def exam_problems(cfg, exams: dict | None = None) -> list[Reason]:
    """The exam folders of a check that could not run, each naming its field (preflight)."""
    if not cfg.forgetting_check:
        return []
    exams = exam_dirs(cfg) if exams is None else exams
    out = []
    for exam, folder in exams.items():
        try:
            found = list_subjects(exam, folder)
        except USER_ERRORS:
            found = []
        if not found:
            split = check_split(exam, None)
            bad = Reason("forgetting_exam_folder", {"path": getattr(cfg, EXAMS[exam]),
                                                    "benchmark": NAMES[exam], "split": split})
            out.append(Reason("field_problem", {"field": EXAMS[exam], "reason": bad}))
    return out


def draw_sample(exam: str, folder: str | Path, n: int, seed: int = SEED) -> list[dict]:
    """``n`` questions of the folder's scored split, drawn across all its subjects with
    ``seed``, as ``plan``-style entries (subjects by key, questions in file order).

    The pool is sorted before drawing, so the sample depends on the files alone, not on the
    order a folder lists them in.
    """
    split = check_split(exam, None)
    subjects = sorted(list_subjects(exam, folder, split), key=lambda s: s.key)
    questions = {s.key: load_questions(exam, folder, s.key, split) for s in subjects}
    pool = sorted((key, q.index) for key, qs in questions.items() for q in qs)
    picked = set(random.Random(seed).sample(pool, min(n, len(pool))))
    entries = []
    for s in subjects:
        chosen = [q for q in questions[s.key] if (s.key, q.index) in picked]
        if chosen:
            entries.append({"subject": s, "examples": [], "questions": chosen})
    return entries


# ------------------------------------------------------------------------------- the numbers
def mcnemar_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value. Only the questions that changed tell base and tuned
    apart: if tuning changed nothing systematic, each of those b + c went either way with
    probability 1/2, so min(b, c) is Binomial(b + c, 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    term = tail = 1  # C(n, 0); each next term from the last, exact in integers
    for k in range(min(b, c)):
        term = term * (n - k) // (k + 1)
        tail += term
    return min(1.0, 2 * tail / 2**n)


def verdict(b: int, c: int, n: int) -> dict:
    """``{code, points, p_value}``: ``no_loss`` (as many questions lost as gained), ``lost`` or
    ``gained`` (a significant change), ``changed`` (a change the test cannot tell from luck)."""
    p = mcnemar_p(b, c)
    if b == c:
        code = "no_loss"
    elif p < ALPHA:
        code = "lost" if b > c else "gained"
    else:
        code = "changed"
    return {"code": code, "points": round(100.0 * (c - b) / n, 1) if n else 0.0, "p_value": p}


def paired(rows: list[dict]) -> dict:
    """Accuracy before and after on the same questions, the change in points, and b (right
    before, wrong after), c (wrong before, right after) with their McNemar p-value."""
    n = len(rows)
    before = sum(r["base_correct"] for r in rows)
    after = sum(r["tuned_correct"] for r in rows)
    b = sum(r["base_correct"] and not r["tuned_correct"] for r in rows)
    c = sum(r["tuned_correct"] and not r["base_correct"] for r in rows)
    return {"n": n, "correct_before": before, "correct_after": after,
            "before": before / n if n else 0.0, "after": after / n if n else 0.0,
            "points": 100.0 * (after - before) / n if n else 0.0, "b": b, "c": c,
            "p_value": mcnemar_p(b, c)}


def question_rows(base: dict, tuned: dict) -> list[dict]:
    """One row per question from two ``summarize`` results on the same entries."""
    rows = []
    for key, sb in base["subjects"].items():
        st = tuned["subjects"][key]
        for i, index in enumerate(sb["indices"]):
            answer, was, now = sb["answers"][i], sb["predictions"][i], st["predictions"][i]
            rows.append({"subject": key, "index": index, "answer": answer, "base": was,
                         "tuned": now, "base_correct": was == answer,
                         "tuned_correct": now == answer})
    return rows


# ------------------------------------------------------------------------------- the record
def reason_dict(reason: Reason) -> dict:
    """A Reason as JSON (nested reasons too), for the page to translate later."""
    def value(v):
        if isinstance(v, Reason):
            return reason_dict(v)
        return v if isinstance(v, (str, int, float, bool, type(None))) else str(v)

    return {"code": reason.code, "params": {k: value(v) for k, v in reason.params.items()}}


def reason_from(data: dict) -> Reason:
    params = {k: reason_from(v) if isinstance(v, dict) and "code" in v else v
              for k, v in (data.get("params") or {}).items()}
    return Reason(data["code"], params)


def read_record(run: Run) -> dict | None:
    """The run's check as pages show it; one whose process died is ``skipped`` (running) or
    absent (still waiting for training, which is then interrupted itself)."""
    try:
        record = json.loads((run.path / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("state") in ("pending", "running") and not owner_alive(record):
        if record["state"] == "pending":
            return None
        return {**record, "state": "skipped",
                "reason": reason_dict(Reason("forgetting_interrupted"))}
    return record


def _owner() -> dict:
    return {"pid": os.getpid(), "pid_started": process_started()}


def before_training(run: Run) -> None:
    """Say on the run's card, from the first step, that a check follows a completed run."""
    if run.config().forgetting_check:
        write_json(run.path / RECORD, {"state": "pending", **_owner(),
                                       "updated_at": time.time()})


def after_training(run: Run, state: str, exams: dict | None = None) -> ForgettingJob | None:
    """The check to run after training ended in ``state``: only after a completed run. A
    stopped run's card says the check did not run (and offers it); a failed run has none."""
    if state == "completed" and run.config().forgetting_check:
        return ForgettingJob(run, exams)
    path, waiting = run.path / RECORD, read_record(run)
    if waiting is None or waiting.get("state") != "pending":
        return None
    if state == "stopped":
        write_json(path, {"state": "skipped", "updated_at": time.time(),
                          "reason": reason_dict(Reason("forgetting_run_stopped"))})
    else:
        path.unlink(missing_ok=True)
    return None


def summary_line(record: dict) -> str:
    """The check in one English line (the CLI, the run's log)."""
    if record.get("state") != "done":
        reason = record.get("reason")
        return f"forgetting check {record.get('state')}" + (
            f": {reason_from(reason)}" if reason else "")
    parts = [f"{NAMES[e]} {x['before']:.1%} -> {x['after']:.1%}"
             for e, x in record["exams"].items()]
    v = record["verdict"]
    words = {"no_loss": "no measurable loss of general ability",
             "lost": f"lost {-v['points']:g} points, significant (p={v['p_value']:.3g})",
             "gained": f"gained {v['points']:g} points (p={v['p_value']:.3g})",
             "changed": f"changed {v['points']:+g} points, not significant "
                        f"(p={v['p_value']:.3g})"}[v["code"]]
    return f"forgetting check: {', '.join(parts)} on {record['overall']['n']} questions: {words}"


# ------------------------------------------------------------------------------- the job
def _yield_reason(job) -> Reason:
    kind = getattr(job, "kind", "")
    if kind == "training" and getattr(job, "run", None) is not None:
        return Reason("forgetting_yield_training", {"run": job.run.id})
    if kind == "scoring":
        return Reason("forgetting_yield_scoring",
                      {"name": job.busy_reason().params.get("name", "")})
    return Reason("forgetting_yield_job", {"kind": kind})


class ForgettingJob:
    """One run's check on the device (the arbiter's ``Job``); it yields to any other job."""

    kind = "forgetting"
    yields = True  # the device stops it (give_way) instead of refusing another job

    def __init__(self, run: Run, exams: dict | None = None, dtype: str = "auto",
                 batch_size: int = 8):
        self.run, self.exams, self.dtype, self.batch_size = run, exams, dtype, batch_size
        self.record: dict = {}
        self.done = 0
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._ended = False
        self._written = 0.0
        self._finished = threading.Event()

    def busy_reason(self) -> Reason:
        return Reason("busy_forgetting", {"run": self.run.id})

    def queue(self) -> None:
        """Say on the card that the check is about to run (before its worker starts)."""
        self._update(state="pending", **_owner())

    def give_way(self, job) -> None:
        """Another job takes the device: end after the current batch, marked skipped."""
        self._skip(_yield_reason(job))

    def stop(self) -> None:
        self._skip(Reason("forgetting_stopped"))

    def join(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def work(self) -> None:
        try:
            self._check()
        except KeyboardInterrupt:  # Ctrl-C in a shell: the check is skipped, not failed
            self.stop()
            raise
        except BaseException as exc:  # the studio must outlive any failure of the check
            self._fail(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._finished.set()

    # --- the record, written under a lock: a skip from another thread is final
    def _update(self, final: bool = False, throttle: bool = False, **fields) -> bool:
        with self._lock:
            if self._ended:
                return False
            self._ended = final
            self.record.update(fields, updated_at=time.time())
            if throttle and time.time() - self._written < PROGRESS_EVERY_S:
                return True
            self._written = time.time()
            try:
                write_json(self.run.path / RECORD, self.record, indent=1)
            except OSError:  # the run was deleted meanwhile: nobody is left to read it
                pass
            return True

    def _log(self, message: str) -> None:
        try:  # best effort: a skip from Start must never fail that Start
            self.run.log(message)
        except OSError:
            pass

    def _skip(self, reason: Reason) -> None:
        self._stop.set()
        if self._update(final=True, state="skipped", reason=reason_dict(reason),
                        ended_at=time.time()):
            self._log(f"forgetting check skipped: {reason}")

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, USER_ERRORS):
            reason = reason_of(exc)
        else:
            reason = Reason("forgetting_crashed", {"detail": f"{type(exc).__name__}: {exc}"})
            logging.getLogger(__name__).error("forgetting check failed\n%s",
                                              traceback.format_exc())
        if self._update(final=True, state="failed", reason=reason_dict(reason),
                        ended_at=time.time()):
            self._log(f"forgetting check failed: {reason}")

    # --- the check itself
    def _check(self) -> None:
        started = time.time()
        cfg = self.run.config()
        if not self._update(state="running", started_at=started, done=0, total=0,
                            settings=_settings(cfg), **_owner()):
            return  # skipped before it began
        if self.run.status().get("state") not in FINISHED_WITH_WEIGHTS or \
                self.run.weights_dir() is None:
            raise RunStateError("forgetting_needs_weights", run=self.run.id,
                                state=self.run.status().get("state"))
        exams = exam_dirs(cfg) if self.exams is None else self.exams
        if not exams:
            raise ConfigError("forgetting_no_exam")
        samples = {e: draw_sample(e, folder, cfg.forgetting_questions)
                   for e, folder in exams.items()}
        per_side = sum(len(x["questions"]) for entries in samples.values() for x in entries)
        self._update(total=2 * per_side)
        self._log(f"forgetting check: base and tuned on {per_side} questions")
        results = self._score(samples)
        if self._stop.is_set():
            return
        record = _result(cfg, exams, samples, results)
        if self._update(final=True, state="done", done=2 * per_side, ended_at=time.time(),
                        elapsed_s=round(time.time() - started, 2), **record):
            self._log(summary_line(self.record))

    def _score(self, samples: dict) -> dict:
        """(side label, exam) -> summarize result; both sides share one model for LoRA."""
        from studio.engine.scoring.evaluate import score_entries
        from studio.engine.scoring.job import base_vs_tuned
        from studio.engine.scoring.loading import adapter_disabled, load_for_eval

        results, loaded, model, tokenizer = {}, None, None, None
        for side in base_vs_tuned(None, str(self.run.path)):
            if (side.model, side.adapter) != loaded:
                model = tokenizer = None  # free one copy before loading the next (full tuning)
                model, tokenizer = load_for_eval(side.model, side.adapter, self.dtype)
                loaded = (side.model, side.adapter)
            scope = nullcontext(model) if side.use_adapter else adapter_disabled(model)
            with scope:
                for exam, entries in samples.items():
                    if self._stop.is_set():
                        return results
                    offset = self.done

                    def progress(done, _total, _subject, offset=offset):
                        self.done = offset + done
                        self._update(throttle=True, done=self.done)

                    results[side.label, exam] = score_entries(
                        model, tokenizer, exam, check_split(exam, None), entries, FORMAT,
                        self.batch_size, progress, self._stop)
        return results


def _settings(cfg) -> dict:
    return {"questions": cfg.forgetting_questions, "shots": SHOTS, "format": FORMAT,
            "seed": SEED, "folders": {e: getattr(cfg, f) for e, f in EXAMS.items()
                                      if getattr(cfg, f).strip()}}


def _result(cfg, exams: dict, samples: dict, results: dict) -> dict:
    """The record's numbers: per exam and overall, with every question and the verdict."""
    out, every = {}, []
    for exam in samples:
        rows = question_rows(results["base", exam], results["tuned", exam])
        every += rows
        out[exam] = {"name": NAMES[exam], "folder": getattr(cfg, EXAMS[exam]),
                     "path": str(exams[exam]), "split": check_split(exam, None),
                     "subjects": len(samples[exam]), **paired(rows), "questions": rows}
    overall = paired(every)
    return {"exams": out, "overall": overall,
            "verdict": verdict(overall["b"], overall["c"], overall["n"])}
