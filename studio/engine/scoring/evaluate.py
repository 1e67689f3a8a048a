"""C-Eval / MMLU / CMMLU scoring: the entry point the Scoring tab and ``studio eval`` share.

``evaluate`` scores one model (or one side of a base/tuned pair) on a benchmark: it reads the
questions (``evaluate_data``), builds the harness's prompts (``evaluate_prompts``), picks the answer
letter with the highest next-token log-probability (``evaluate_score``) and returns per-subject,
per-category and overall accuracy with every prediction and log-probability. ``load_for_eval``
loads a model with an optional adapter so base and tuned share one copy of the base weights;
saving, history and comparison live in ``evaluate_results``.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from studio.engine.errors import EvalDataError, ModelError
from studio.engine.scoring.data import (  # noqa: F401  (re-exported: the public API)
    BENCHMARKS,
    CATEGORIES,
    LETTERS,
    Question,
    Subject,
    check_split,
    list_subjects,
    load_questions,
    subject_info,
)
from studio.engine.scoring.prompts import (  # noqa: F401
    FORMATS,
    build_prompt,
    continuations,
    encode_pair,
    letter_token_ids,
    select_shots,
)
from studio.engine.scoring.results import (  # noqa: F401
    compare,
    history,
    load_result,
    save_result,
)
from studio.engine.scoring.score import Item, score_items

DTYPES = ("auto", "float32", "bfloat16", "float16")


class StopFlag:
    """A flag another thread sets to stop scoring between batches; what was scored is kept."""

    def __init__(self):
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


def plan(benchmark: str, data_dir: str | Path | None, subjects: list[str] | None = None,
         split: str | None = None, shots: int = 5, limit: int | None = None) -> list[dict]:
    """Read and check every question before any scoring, so bad data fails in seconds.

    Returns one entry per subject: its ``Subject``, the few-shot examples and the questions.
    """
    split = check_split(benchmark, split)
    if not subjects:
        subjects = [s.key for s in list_subjects(benchmark, data_dir, split)]
        if not subjects:
            raise EvalDataError("eval_no_subjects", benchmark=benchmark, data_dir=str(data_dir),
                                split=split)
    entries = []
    for key in subjects:
        questions = load_questions(benchmark, data_dir, key, split)
        if limit:
            questions = questions[:limit]
        examples = []
        if shots:
            dev = load_questions(benchmark, data_dir, key, "dev")
            try:
                examples = select_shots(dev, shots)
            except EvalDataError as exc:
                raise EvalDataError("eval_subject_problem", subject=key,
                                    reason=exc.reason) from exc
        entries.append({"subject": subject_info(benchmark, data_dir, key),
                        "examples": examples, "questions": questions})
    return entries


def evaluate(model, tokenizer, benchmark: str, data_dir: str | Path | None = None,
             subjects: list[str] | None = None, split: str | None = None, shots: int = 5,
             fmt: str = "plain", limit: int | None = None, batch_size: int = 8,
             progress=None, stop: StopFlag | None = None, meta: dict | None = None) -> dict:
    """Score ``model`` and return the result dict (see ``summarize`` for its shape).

    ``progress(done, total, subject_key)`` is called after every batch; ``stop.set()`` from
    another thread ends the run after the current batch and the result keeps what was scored.
    """
    if fmt not in FORMATS:
        raise EvalDataError("eval_format_unknown", fmt=fmt, choices=" or ".join(FORMATS))
    split = check_split(benchmark, split)
    entries = plan(benchmark, data_dir, subjects, split, shots, limit)
    total = sum(len(e["questions"]) for e in entries)
    started, done, scored = time.time(), 0, {}
    model.eval()
    for entry in entries:
        key = entry["subject"].key
        items = _items(tokenizer, benchmark, entry, fmt, _max_length(model))

        def on_batch(n, key=key):
            nonlocal done
            done += n
            if progress:
                progress(done, total, key)

        scores = score_items(model, items, batch_size, _pad_id(tokenizer), on_batch,
                             stop.is_set if stop else None)
        scored[key] = (entry, scores)
        if stop and stop.is_set():
            break
    result = summarize(benchmark, split, scored, stopped=bool(stop and stop.is_set()))
    result.update(shots=shots, format=fmt, limit=limit, data_dir=str(data_dir or "hub"),
                  elapsed_s=round(time.time() - started, 2), created_at=time.time(),
                  dtype=str(getattr(model, "dtype", "")).replace("torch.", ""))
    result.update(meta or {})
    return result


def _items(tokenizer, benchmark: str, entry: dict, fmt: str, max_length: int) -> list[Item]:
    conts = continuations(fmt)
    items = []
    for i, q in enumerate(entry["questions"]):
        prompt = build_prompt(fmt, tokenizer, benchmark, entry["subject"], entry["examples"], q)
        # A chat template writes its own special tokens; plain text gets the tokenizer's default.
        pairs = [encode_pair(tokenizer, prompt, c, add_special_tokens=fmt == "plain",
                             move_spaces=fmt == "plain") for c in conts]
        context = pairs[0][0][-max_length:]  # the harness keeps the end of an over-long prompt
        items.append(Item(i, context, [p[1] for p in pairs]))
    return items


def _max_length(model) -> int:
    config = getattr(model, "config", None)
    for attr in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def summarize(benchmark: str, split: str, scored: dict, stopped: bool = False) -> dict:
    """Per-subject, per-category and overall accuracy from scored questions.

    ``subjects[key]`` holds ``n``, ``correct``, ``acc``, ``indices`` (file rows scored),
    ``answers``, ``predictions`` and ``logprobs``, all in file order. ``overall.acc`` weights
    every question equally, as the harness's group scores do; ``macro_acc`` averages subjects.
    """
    subjects = {}
    for key, (entry, scores) in scored.items():
        questions = [q for i, q in enumerate(entry["questions"]) if i in scores]
        if not questions:
            continue
        logprobs = [scores[i] for i in sorted(scores)]
        predictions = [LETTERS[max(range(4), key=lp.__getitem__)] for lp in logprobs]
        answers = [q.answer for q in questions]
        correct = sum(p == a for p, a in zip(predictions, answers))
        subjects[key] = {"name": entry["subject"].name, "category": entry["subject"].category,
                         "n": len(questions), "correct": correct,
                         "acc": correct / len(questions), "indices": [q.index for q in questions],
                         "answers": answers, "predictions": predictions, "logprobs": logprobs}
    return {"benchmark": benchmark, "split": split, "stopped": stopped, "subjects": subjects,
            "categories": aggregate_categories(subjects), "overall": _overall(subjects)}


def aggregate_categories(subjects: dict) -> dict:
    cats: dict[str, dict] = {}
    for s in subjects.values():
        c = cats.setdefault(s["category"], {"n": 0, "correct": 0, "subjects": 0})
        c["n"] += s["n"]
        c["correct"] += s["correct"]
        c["subjects"] += 1
    for c in cats.values():
        c["acc"] = c["correct"] / c["n"] if c["n"] else 0.0
    order = {name: i for i, name in enumerate(CATEGORIES)}
    return dict(sorted(cats.items(), key=lambda kv: (order.get(kv[0], 99), kv[0])))


def _overall(subjects: dict) -> dict:
    n = sum(s["n"] for s in subjects.values())
    correct = sum(s["correct"] for s in subjects.values())
    accs = [s["acc"] for s in subjects.values()]
    return {"n": n, "correct": correct, "acc": correct / n if n else 0.0,
            "macro_acc": sum(accs) / len(accs) if accs else 0.0, "subjects": len(subjects)}


# --- loading models for scoring


def torch_dtype(name: str):
    """``auto`` is bf16 on a GPU that has it and fp32 elsewhere (the numbers to quote)."""
    import torch

    if name not in DTYPES:
        raise EvalDataError("eval_dtype_unknown", dtype=name, choices=", ".join(DTYPES))
    if name == "auto":
        cuda = torch.cuda.is_available()
        return torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, name)


def resolve_adapter(spec: str, runs_dir: str | Path | None = None) -> tuple[Path, str | None]:
    """A run id, run folder or adapter folder -> (weights folder, the run's base model id)."""
    from studio.engine.runs import Run, RunStore

    path = Path(spec).expanduser()
    run = None
    if (path / "status.json").exists():
        run = Run(path)
    elif not path.exists() and runs_dir and Path(runs_dir).is_dir():
        try:
            run = RunStore(runs_dir).get(spec)
        except FileNotFoundError:
            run = None
    if run is not None:
        weights = run.weights_dir()
        if weights is None:
            raise EvalDataError("eval_run_no_weights", run=run.id)
        try:
            base = run.config().model
        except Exception:  # an unreadable config: the caller must then name the model
            base = None
        return weights, base
    if (path / "adapter_config.json").exists() or (path / "config.json").exists():
        return path, None
    if runs_dir:
        raise EvalDataError("eval_adapter_unknown", spec=spec, runs_dir=str(runs_dir))
    raise EvalDataError("eval_adapter_unknown_bare", spec=spec)


def load_for_eval(model_id: str | None, adapter: str | None = None, dtype: str = "auto",
                  runs_dir: str | Path | None = None):
    """(model, tokenizer): the base model, with the adapter attached when one is given.

    A run that saved full weights is loaded as the model itself. With an adapter, scoring the
    base model is ``with adapter_disabled(model):`` on the same object.
    """
    from studio.engine.models import load_model, load_tokenizer

    weights, base = resolve_adapter(adapter, runs_dir) if adapter else (None, None)
    if weights is not None and (weights / "config.json").exists():
        model_id, weights = str(weights), None
    model_id = model_id or base
    if not model_id:
        raise ModelError("eval_no_model")
    model = load_model(model_id, dtype=torch_dtype(dtype))
    tokenizer = load_tokenizer(model_id)
    if weights is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(weights))
    return model.eval(), tokenizer


@contextlib.contextmanager
def adapter_disabled(model):
    """Score the base model of a PEFT model; a plain model is left as it is."""
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            yield model
    else:
        yield model
