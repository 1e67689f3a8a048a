"""C-Eval / MMLU / CMMLU scoring of one model: the step the Scoring tab and ``studio eval`` share.

``plan`` reads and checks every question before anything is scored. ``evaluate`` scores one model
(or one side of a base/tuned pair): it builds the harness's prompts (``prompts``), picks the answer
letter with the highest next-token log-probability (``score``) and returns per-subject,
per-category and overall accuracy with every prediction and log-probability; ``score_entries`` is
its scoring step alone, for questions already chosen (the forgetting check's fixed sample).
Loading base and tuned weights is ``loading``; saving, history and comparison are ``results``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from studio.engine.errors import EvalDataError
from studio.engine.scoring.data import (
    CATEGORIES,
    LETTERS,
    check_split,
    list_subjects,
    load_questions,
    subject_info,
)
from studio.engine.scoring.prompts import (
    FORMATS,
    build_prompt,
    continuations,
    encode_pair,
    select_shots,
)
from studio.engine.scoring.score import Item, score_items


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
             progress=None, stop: threading.Event | None = None,
             meta: dict | None = None) -> dict:
    """Score ``model`` and return the result dict (see ``summarize`` for its shape).

    ``progress(done, total, subject_key)`` is called after every batch; ``stop.set()`` from
    another thread ends the run after the current batch and the result keeps what was scored.
    """
    if fmt not in FORMATS:
        raise EvalDataError("eval_format_unknown", fmt=fmt, choices=" or ".join(FORMATS))
    split = check_split(benchmark, split)
    entries = plan(benchmark, data_dir, subjects, split, shots, limit)
    started = time.time()
    result = score_entries(model, tokenizer, benchmark, split, entries, fmt, batch_size,
                           progress, stop)
    result.update(shots=shots, format=fmt, limit=limit, data_dir=str(data_dir or "hub"),
                  elapsed_s=round(time.time() - started, 2), created_at=time.time(),
                  dtype=str(getattr(model, "dtype", "")).replace("torch.", ""))
    result.update(meta or {})
    return result


def score_entries(model, tokenizer, benchmark: str, split: str, entries: list[dict],
                  fmt: str = "plain", batch_size: int = 8, progress=None,
                  stop: threading.Event | None = None) -> dict:
    """Score already planned ``entries`` (``plan``'s shape; any subset of a subject's questions
    works, such as the forgetting check's fixed sample) and ``summarize`` them."""
    total = sum(len(e["questions"]) for e in entries)
    done, scored = 0, {}
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
    return summarize(benchmark, split, scored, stopped=bool(stop and stop.is_set()))


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
