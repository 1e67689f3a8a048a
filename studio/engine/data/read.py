"""Reading the files people bring: json, jsonl, csv, parquet, txt, md, or a hub dataset id.

Each row comes back as the dict the file holds, untouched; ``formats`` decides what it means.
Raw text (``.txt``, ``.md``) for continued pre-training becomes ``{"text": ...}`` rows: the whole
file as one document, or one row per paragraph (``text_split="paragraph"``: split on blank lines,
never inside a fenced code block). Text is decoded by ``decode`` (UTF-8, a BOM's encoding, GBK
Chinese); CSV cells stay the text they are (``007`` and ``NA`` are not turned into numbers or
blanks), and parquet's nested columns come back as plain lists and dicts. A file that cannot be
read raises ``DataError`` naming the file and, where there is one, the line and column, so a user
can open the file and fix it. The Data tab reads with ``limit`` (rows) and ``max_bytes`` (see
``limits``); a hub dataset is then streamed and only its first rows fetched.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from studio.engine.data import dataset_info, limits
from studio.engine.data.decode import decode
from studio.engine.errors import DataError

SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt", ".md")
TEXT_SUFFIXES = (".txt", ".md")
TEXT_SPLITS = ("document", "paragraph")
OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
JSON_TYPES = {"str": "string", "int": "number", "float": "number", "bool": "true/false",
              "NoneType": "null"}


def read_rows(source: str | Path, split: str = "train", text_split: str = "document",
              limit: int | None = None, max_bytes: int | None = None,
              hub_options: dict | None = None) -> list[dict]:
    """Raw rows from a local file or, for an ``owner/name`` id, from the hub.

    ``text_split`` says how a ``.txt`` / ``.md`` file becomes rows: ``document`` (one row) or
    ``paragraph`` (one row per blank-line-separated paragraph); other files ignore it. ``limit``
    keeps the first rows only (a hub dataset is then streamed); a file over ``max_bytes`` is
    refused unread; ``hub_options`` go to ``datasets.load_dataset`` (subset, data_dir, ...).
    """
    if text_split not in TEXT_SPLITS:
        raise DataError("field_choice", field="text_split", choices=", ".join(TEXT_SPLITS),
                        got=repr(text_split))
    if dataset_info.is_entry(source):  # "<folder>/dataset_info.json#<entry>" (LLaMA-Factory)
        return dataset_info.read_entry(source, read_rows, split, text_split=text_split,
                                       limit=limit, max_bytes=max_bytes)
    path = Path(source)
    if path.suffix.lower() in SUFFIXES or path.exists():
        return _read_file(path, text_split, limit, max_bytes)
    return _read_hub(str(source), split, limit, hub_options or {})


def _read_file(path: Path, text_split: str = "document", limit: int | None = None,
               max_bytes: int | None = None) -> list[dict]:
    if not path.exists():
        raise DataError("data_file_missing", path=str(path))
    if path.is_dir():  # before the suffix: "train.json/" is a folder whatever it is called
        raise DataError("data_is_folder", path=str(path))
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError("data_suffix", path=str(path), suffix=suffix or "(none)",
                        allowed=", ".join(SUFFIXES))
    if limits.check_size(path, str(path), max_bytes) == 0:
        raise DataError("data_empty", path=str(path))
    try:
        rows = _READERS[suffix](path, text_split, limit)
    except DataError:
        raise
    except RecursionError:  # the parsers recurse once per level of nesting
        raise DataError("data_too_deep_file", path=str(path), limit=limits.MAX_DEPTH) from None
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise DataError("data_unreadable", path=str(path), detail=str(exc)) from exc
    return _checked(rows[:limit] if limit is not None else rows, path)


def _checked(rows: list, path: Path) -> list[dict]:
    if not rows:
        raise DataError("data_empty", path=str(path))
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise DataError("data_row_not_object", path=str(path), row=i,
                            got=type(row).__name__)
        if limits.too_deep(row, limits.MAX_DEPTH):
            raise DataError("data_too_deep", path=str(path), row=i, limit=limits.MAX_DEPTH)
    return rows


def _text(path: Path) -> str:
    """The file as text; a file of only blank space holds no rows."""
    text = decode(path.read_bytes(), str(path))
    if not text.strip():
        raise DataError("data_empty", path=str(path))
    return text


def _read_json(path: Path, text_split: str, limit: int | None) -> list[dict]:
    text = _text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{") and "\n{" in text:
            return _read_jsonl(path, text_split, limit)  # JSON Lines saved as .json: accept it
        raise DataError("data_json", path=str(path), line=exc.lineno, column=exc.colno,
                        detail=exc.msg) from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError("data_object_not_list", path=str(path))
        data = lists[0]
    if not isinstance(data, list):
        raise DataError("data_json_not_list", path=str(path),
                        got=JSON_TYPES.get(type(data).__name__, type(data).__name__))
    return data


def _read_jsonl(path: Path, text_split: str, limit: int | None) -> list[dict]:
    rows = []
    for lineno, line in enumerate(_text(path).splitlines(), 1):
        if limit is not None and len(rows) >= limit:
            break  # the caller keeps ``limit`` rows: the rest need not be parsed
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError("data_jsonl", path=str(path), line=lineno, detail=exc.msg) from None
        except RecursionError:
            raise DataError("data_too_deep_line", path=str(path), line=lineno,
                            limit=limits.MAX_DEPTH) from None
    return rows


def _read_csv(path: Path, text_split: str, limit: int | None) -> list[dict]:
    """CSV rows with every cell kept as its text (an empty cell is None); a ragged line or an
    unclosed quote is refused with its line, never shifted into the wrong columns."""
    csv.field_size_limit(max(csv.field_size_limit(), limits.MAX_FILE_BYTES))  # 1 MB cells
    reader = csv.reader(io.StringIO(_text(path), newline=""), strict=True)
    rows, start, header = [], 1, None
    try:
        for record in reader:
            if header is None:
                header = record
            elif any(cell.strip() for cell in record):
                rows.append(_csv_row(path, header, record, reader.line_num))
            start = reader.line_num + 1
            if limit is not None and len(rows) >= limit:
                break
    except csv.Error as exc:
        if "end of data" in str(exc):  # strict mode at EOF inside a quoted field
            raise DataError("data_csv_quote", path=str(path), line=start) from None
        raise DataError("data_csv", path=str(path), line=reader.line_num,
                        detail=str(exc)) from None
    return rows


def _csv_row(path: Path, header: list[str], record: list[str], line: int) -> dict:
    if len(record) > len(header):
        raise DataError("data_csv_fields", path=str(path), line=line, got=len(record),
                        expected=len(header))
    cells = record + [""] * (len(header) - len(record))
    return {name: cell if cell != "" else None for name, cell in zip(header, cells)}


def _read_parquet(path: Path, text_split: str, limit: int | None) -> list[dict]:
    # pyarrow gives nested columns (a list of turns) as lists and dicts; pandas would give
    # numpy arrays, which no format reads as a list.
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return (table.slice(0, limit) if limit is not None else table).to_pylist()


def _read_text(path: Path, text_split: str, limit: int | None = None) -> list[dict]:
    """A text file as ``{"text": ...}`` rows; blank-only files are refused as empty."""
    text = _text(path).replace("\r\n", "\n").replace("\r", "\n")
    if text_split == "document":
        return [{"text": text.strip()}]
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


_READERS = {".json": _read_json, ".jsonl": _read_jsonl, ".csv": _read_csv,
            ".parquet": _read_parquet, ".txt": _read_text, ".md": _read_text}


# --------------------------------------------------------------------------- the hub


def _read_hub(dataset_id: str, split: str, limit: int | None, options: dict) -> list[dict]:
    import datasets

    _hub_reachable(dataset_id)
    try:
        if limit is None:
            return [dict(r) for r in datasets.load_dataset(dataset_id, split=split, **options)]
        # Only the rows kept are fetched: a many-gigabyte dataset is not downloaded to show
        # its first rows.
        stream = datasets.load_dataset(dataset_id, split=split, streaming=True, **options)
        return [dict(r) for r in stream.take(limit)]
    except Exception as exc:
        raise DataError("data_hub", dataset=dataset_id, split=split, detail=str(exc)) from exc


def _hub_reachable(dataset_id: str) -> None:
    """Ask the hub once, without retries, whether the dataset is there, so an unreachable hub
    or a mistyped id is a message within seconds (``datasets`` retries for ~25 s first). With
    ``HF_HUB_OFFLINE`` set the cache is used as it is and nothing is asked."""
    if any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
           for v in OFFLINE_VARS):
        return
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        HfApi().dataset_info(dataset_id, timeout=10)
    except RepositoryNotFoundError:  # gated and private repos included
        raise DataError("data_hub_not_found", dataset=dataset_id) from None
    except Exception as exc:  # no network, a proxy, a DNS failure, a hub outage
        raise DataError("data_hub_unreachable", dataset=dataset_id,
                        detail=str(exc) or type(exc).__name__) from None
