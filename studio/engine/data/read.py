"""Reading the files people bring: json, jsonl, csv, parquet, txt, md, or a hub dataset id.

Each row comes back as the dict the file holds, untouched; ``formats`` decides what it means.
Raw text (``.txt``, ``.md``) for continued pre-training becomes ``{"text": ...}`` rows: the whole
file as one document, or one row per paragraph (``text_split="paragraph"``: split on blank lines,
never inside a fenced code block). A file that cannot be read raises ``DataError`` naming the file
and, where there is one, the line and column, so a user can open the file and fix it.
"""

from __future__ import annotations

import json
from pathlib import Path

from studio.engine.data import dataset_info
from studio.engine.errors import DataError

SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt", ".md")
TEXT_SUFFIXES = (".txt", ".md")
TEXT_SPLITS = ("document", "paragraph")


def read_rows(source: str | Path, split: str = "train",
              text_split: str = "document") -> list[dict]:
    """Raw rows from a local file or, for an ``owner/name`` id, from the hub.

    ``text_split`` says how a ``.txt`` / ``.md`` file becomes rows: ``document`` (one row) or
    ``paragraph`` (one row per blank-line-separated paragraph); other files ignore it.
    """
    if text_split not in TEXT_SPLITS:
        raise DataError("field_choice", field="text_split", choices=", ".join(TEXT_SPLITS),
                        got=repr(text_split))
    if dataset_info.is_entry(source):  # "<folder>/dataset_info.json#<entry>" (LLaMA-Factory)
        return dataset_info.read_entry(source, read_rows, split, text_split=text_split)
    path = Path(source)
    if path.suffix.lower() in SUFFIXES or path.exists():
        return _read_file(path, text_split)
    return _read_hub(str(source), split)


def _read_file(path: Path, text_split: str = "document") -> list[dict]:
    if not path.exists():
        raise DataError("data_file_missing", path=str(path))
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError("data_suffix", path=str(path), suffix=suffix, allowed=", ".join(SUFFIXES))
    try:
        rows = (_read_text(path, text_split) if suffix in TEXT_SUFFIXES
                else _READERS[suffix](path))
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for a damaged file
        raise DataError("data_unreadable", path=str(path), detail=str(exc)) from exc
    if not rows:
        raise DataError("data_empty", path=str(path))
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise DataError("data_row_not_object", path=str(path), row=i,
                            got=type(row).__name__)
    return rows


def _read_json(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{") and "\n{" in text:
            return _read_jsonl(path)  # JSON Lines saved as .json is common; accept it
        raise DataError("data_json", path=str(path), line=exc.lineno, column=exc.colno,
                        detail=exc.msg) from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError("data_object_not_list", path=str(path))
        data = lists[0]
    if not isinstance(data, list):
        raise DataError("data_not_list", path=str(path))
    return data


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError("data_jsonl", path=str(path), line=lineno, detail=exc.msg) from None
    return rows


def _read_table(path: Path) -> list[dict]:
    import pandas as pd

    frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    return frame.where(frame.notna(), None).to_dict(orient="records")


def _read_text(path: Path, text_split: str) -> list[dict]:
    """A text file as ``{"text": ...}`` rows; blank-only files give none (``data_empty``)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError("data_text_encoding", path=str(path), offset=exc.start) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text_split == "document":
        return [{"text": text.strip()}] if text.strip() else []
    return [{"text": p} for p in paragraphs(text)]


def paragraphs(text: str) -> list[str]:
    """Blank-line-separated paragraphs, each stripped; a ``` or ~~~ fenced block stays whole."""
    out, current, fence = [], [], ""
    for line in text.split("\n"):
        mark = line.lstrip()[:3]
        if mark in ("```", "~~~"):
            fence = "" if fence == mark else fence or mark
        if not line.strip() and not fence:
            out.append("\n".join(current).strip())
            current = []
        else:
            current.append(line)
    out.append("\n".join(current).strip())
    return [p for p in out if p]


_READERS = {".json": _read_json, ".jsonl": _read_jsonl, ".csv": _read_table,
            ".parquet": _read_table}


def _read_hub(dataset_id: str, split: str) -> list[dict]:
    import datasets

    try:
        return list(datasets.load_dataset(dataset_id, split=split))
    except Exception as exc:
        raise DataError("data_hub", dataset=dataset_id, split=split, detail=str(exc)) from exc
