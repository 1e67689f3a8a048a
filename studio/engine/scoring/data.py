"""Benchmark questions for scoring: MMLU, C-Eval and CMMLU read from a folder or from the hub.

A local folder follows each benchmark's official layout (MMLU:
``{dev,val,test}/<subject>_<split>.csv`` without a header; C-Eval: the same names with a header,
and an unlabelled ``test`` split; CMMLU: ``{dev,test}/<subject>.csv`` with an index column). A
user's own multiple-choice exam in one of these layouts works the same way. Every malformed row
is reported with its file and row number, because a silent skip would change the score. Subject
names and categories come from the folder's own ``mapping.json`` when it has one, otherwise from
the benchmarks' official tables.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from studio.engine.errors import EvalDataError
from studio.engine.scoring.subjects import SUBJECTS

LETTERS = ("A", "B", "C", "D")
CATEGORIES = ("STEM", "Humanities", "Social Sciences", "Other")


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    splits: tuple[str, ...]
    default_split: str
    hub_id: str
    hub_splits: dict          # our split name -> the hub dataset's split name
    header: bool              # the CSV files start with a header row
    suffix: bool              # file names carry the split: <subject>_<split>.csv


BENCHMARKS = {
    "mmlu": BenchmarkSpec("mmlu", ("dev", "val", "test"), "test", "cais/mmlu",
                          {"dev": "dev", "val": "validation", "test": "test"}, False, True),
    # C-Eval's test answers were never released with the files: val is the scored split.
    "ceval": BenchmarkSpec("ceval", ("dev", "val", "test"), "val", "ceval/ceval-exam",
                           {"dev": "dev", "val": "val", "test": "test"}, True, True),
    "cmmlu": BenchmarkSpec("cmmlu", ("dev", "test"), "test", "haonan-li/cmmlu",
                           {"dev": "dev", "test": "test"}, True, False),
}


@dataclass(frozen=True)
class Subject:
    key: str        # file-name stem, e.g. "abstract_algebra"
    name: str       # the name the prompt header uses, e.g. "abstract algebra" or "注册会计师"
    category: str


@dataclass(frozen=True)
class Question:
    subject: str
    index: int                  # 0-based position in its file, so predictions map back
    question: str
    choices: tuple[str, str, str, str]
    answer: str | None          # "A".."D", or None for an unlabelled split


def spec(benchmark: str) -> BenchmarkSpec:
    try:
        return BENCHMARKS[benchmark]
    except KeyError:
        raise EvalDataError("eval_benchmark_unknown", benchmark=benchmark,
                            choices=", ".join(BENCHMARKS)) from None


def check_split(benchmark: str, split: str | None) -> str:
    s = spec(benchmark)
    split = split or s.default_split
    if split not in s.splits:
        raise EvalDataError("eval_split_unknown", benchmark=benchmark, split=split,
                            splits=", ".join(s.splits))
    return split


def subject_file(benchmark: str, data_dir: str | Path, subject: str, split: str) -> Path:
    s = spec(benchmark)
    name = f"{subject}_{split}.csv" if s.suffix else f"{subject}.csv"
    return Path(data_dir) / split / name


def _mapping(benchmark: str, data_dir: str | Path | None) -> dict[str, tuple[str, str]]:
    table = dict(SUBJECTS[spec(benchmark).name])
    path = Path(data_dir) / "mapping.json" if data_dir else None
    if path and path.exists():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            table.update({k: (v["name"], v["category"]) for k, v in raw.items()})
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise EvalDataError("eval_mapping", path=str(path), detail=str(exc)) from exc
    return table


def list_subjects(benchmark: str, data_dir: str | Path | None = None,
                  split: str | None = None) -> list[Subject]:
    """Subjects available for scoring, by category (STEM, Humanities, ...) then key.

    With a folder, only subjects that have a file in the split's folder; without one (the hub),
    every subject of the benchmark's official table.
    """
    split = check_split(benchmark, split)
    table = _mapping(benchmark, data_dir)
    if data_dir is None:
        keys = list(SUBJECTS[benchmark])
    else:
        folder = Path(data_dir) / split
        if not folder.is_dir():
            raise EvalDataError("eval_folder_missing", folder=str(folder), benchmark=benchmark,
                                splits="/".join(spec(benchmark).splits))
        tail = f"_{split}.csv" if spec(benchmark).suffix else ".csv"
        keys = [p.name[: -len(tail)] for p in folder.glob(f"*{tail}")]
    subjects = [Subject(k, *table.get(k, (k.replace("_", " "), "Other"))) for k in keys]
    order = {name: i for i, name in enumerate(CATEGORIES)}
    return sorted(subjects, key=lambda s: (order.get(s.category, len(order)), s.category, s.key))


def subject_info(benchmark: str, data_dir: str | Path | None, key: str) -> Subject:
    name, category = _mapping(benchmark, data_dir).get(key, (key.replace("_", " "), "Other"))
    return Subject(key, name, category)


def load_questions(benchmark: str, data_dir: str | Path | None, subject: str, split: str,
                   need_answers: bool = True) -> list[Question]:
    """All questions of one subject and split, in file order."""
    split = check_split(benchmark, split)
    if data_dir is None:
        return _load_hub(benchmark, subject, split, need_answers)
    path = subject_file(benchmark, data_dir, subject, split)
    if not path.exists():
        known = [s.key for s in list_subjects(benchmark, data_dir, split)]
        shown = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "")
        raise EvalDataError("eval_subject_not_found", subject=subject, path=str(path),
                            known=shown)
    return _read_csv(benchmark, path, subject, need_answers)


def _read_csv(benchmark: str, path: Path, subject: str, need_answers: bool) -> list[Question]:
    header = spec(benchmark).header
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise EvalDataError("eval_csv_unreadable", path=str(path), detail=str(exc)) from exc
    if header:
        if not rows:
            raise EvalDataError("eval_csv_empty", path=str(path))
        columns, rows = _header_columns(path, rows[0]), rows[1:]
    else:
        columns = {"question": 0, "A": 1, "B": 2, "C": 3, "D": 4, "answer": 5}
    if need_answers and "answer" not in columns:
        raise EvalDataError("eval_no_answer_column", path=str(path))
    first_row = 2 if header else 1  # row numbers as a spreadsheet shows them
    # A blank line (a trailing one, say) is no question, but row numbers still count it.
    numbered = [(first_row + i, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not numbered:
        raise EvalDataError("eval_no_questions", path=str(path))
    return [_question(path, subject, i, row_no, row, columns, need_answers)
            for i, (row_no, row) in enumerate(numbered)]


def _header_columns(path: Path, header: list[str]) -> dict[str, int]:
    lowered = [h.strip().lower() for h in header]
    columns = {}
    for field in ("question", "A", "B", "C", "D", "answer"):
        if field.lower() in lowered:
            columns[field] = lowered.index(field.lower())
        elif field != "answer":
            raise EvalDataError("eval_header_column", path=str(path), field=field,
                                found=", ".join(header))
    return columns


def _question(path: Path, subject: str, index: int, row_no: int, row: list[str],
              columns: dict[str, int], need_answers: bool) -> Question:
    width = max(columns.values()) + 1
    if len(row) < width:
        raise EvalDataError("eval_row_columns", path=str(path), row=row_no, width=width,
                            found=len(row))
    answer = row[columns["answer"]].strip().upper() if "answer" in columns else ""
    if need_answers and answer not in LETTERS:
        if not answer:
            raise EvalDataError("eval_row_no_answer", path=str(path), row=row_no)
        raise EvalDataError("eval_row_answer", path=str(path), row=row_no, found=repr(answer))
    choices = tuple(row[columns[letter]] for letter in LETTERS)
    return Question(subject, index, row[columns["question"]], choices, answer or None)


def _load_hub(benchmark: str, subject: str, split: str, need_answers: bool) -> list[Question]:
    """The usual hub copies; needs internet and the ``datasets`` package."""
    s = spec(benchmark)
    if subject not in SUBJECTS[benchmark]:
        raise EvalDataError("eval_subject_unknown", subject=subject, benchmark=benchmark)
    try:
        from datasets import load_dataset

        rows = load_dataset(s.hub_id, subject, split=s.hub_splits[split])
    except Exception as exc:  # offline, renamed dataset, missing package: one readable line
        raise EvalDataError("eval_hub", hub_id=s.hub_id, subject=subject, split=split,
                            detail=str(exc)) from exc
    where = Path(f"{s.hub_id}/{subject}/{split}")
    out = []
    for i, r in enumerate(rows):
        if benchmark == "mmlu":
            choices, answer = r["choices"], LETTERS[r["answer"]]
            cells = [r["question"], *choices, answer]
        elif benchmark == "ceval":
            cells = [r["question"], r["A"], r["B"], r["C"], r["D"], r.get("answer") or ""]
        else:
            cells = [r["Question"], r["A"], r["B"], r["C"], r["D"], r["Answer"]]
        columns = {"question": 0, "A": 1, "B": 2, "C": 3, "D": 4, "answer": 5}
        out.append(_question(where, subject, i, i + 1, [str(c) for c in cells], columns,
                             need_answers))
    return out
