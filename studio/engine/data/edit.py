"""Editing a loaded dataset row by row: the flat table view, search, paging, edits and undo.

The Data tab keeps the normalized records (see ``data.normalize``) in memory while a person
searches, pages, edits, adds and deletes rows, then saves them under a new name. Everything here
is plain Python on lists of records so it is tested without a browser. Undo is a stack of inverse
operations (not copies of the dataset), so a 4,000-row set with many edits stays small.
"""

from __future__ import annotations

import json
import math

from studio.engine.data.formats import detect_format, normalize
from studio.engine.errors import DataError

PAGE_SIZE = 20
CELL_CHARS = 90
# Table columns per kind of record; the UI translates them as ``data.col.<name>``.
COLUMNS = {"chat": ("row", "system", "user", "assistant", "turns"),
           "preference": ("row", "prompt", "chosen", "rejected"),
           "text": ("row", "text")}


def kind(record: dict) -> str:
    """``chat``, ``preference`` or ``text``: the three normal shapes of ``data.normalize``."""
    if "text" in record:
        return "text"
    if "chosen" in record:
        return "preference"
    return "chat"


def dataset_kind(records: list[dict]) -> str:
    return kind(records[0]) if records else "chat"


def _cell(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= CELL_CHARS else flat[: CELL_CHARS - 1] + "…"


def _shown(message: dict) -> str:
    """A message as one table cell: its text, its tool calls as ``→ name(args)``, and the type
    of any part it kept as is (an image)."""
    content = message["content"]
    if not isinstance(content, str):
        parts = content if isinstance(content, list) else [content]
        content = " ".join((p.get("text") or f"[{p.get('type', '?')}]")
                           if isinstance(p, dict) else str(p) for p in parts)
    calls = [_call(c["function"]) for c in message.get("tool_calls", [])]
    return " ".join([content, *calls]).strip()


def _call(fn: dict) -> str:
    return f"→ {fn['name']}({json.dumps(fn['arguments'], ensure_ascii=False)})"


def _first(messages: list[dict], role: str) -> str:
    return next((_shown(m) for m in messages if m["role"] == role and _shown(m)), "")


def _last_user(messages: list[dict]) -> str:
    return next((_shown(m) for m in reversed(messages) if m["role"] == "user"), "")


def flat_row(number: int, record: dict) -> list:
    """One table line: the row number and short text cells, as listed in ``COLUMNS``."""
    k = kind(record)
    if k == "text":
        return [number, _cell(record["text"])]
    if k == "preference":
        answer = lambda side: " ".join(_shown(m) for m in record[side])  # noqa: E731
        return [number, _cell(_last_user(record["prompt"])), _cell(answer("chosen")),
                _cell(answer("rejected"))]
    msgs = record["messages"]
    turns = sum(m["role"] != "system" for m in msgs)
    label = {True: " ✓", False: " ✗"}.get(record.get("label"), "")  # KTO verdicts
    return [number, _cell(_first(msgs, "system")), _cell(_first(msgs, "user")),
            _cell(_first(msgs, "assistant")), f"{turns}{label}"]


def search(records: list[dict], query: str) -> list[int]:
    """0-based indices of records whose text contains ``query`` (case-insensitive)."""
    needle = (query or "").strip().lower()
    if not needle:
        return list(range(len(records)))
    return [i for i, r in enumerate(records)
            if needle in json.dumps(r, ensure_ascii=False).lower()]


def page_of(indices: list[int], page: int, size: int = PAGE_SIZE) -> tuple[list[int], int, int]:
    """The indices on ``page`` (1-based, clamped), the page shown and the number of pages."""
    pages = max(1, math.ceil(len(indices) / size))
    page = min(max(1, int(page or 1)), pages)
    return indices[(page - 1) * size: page * size], page, pages


def page_for_row(indices: list[int], index: int, size: int = PAGE_SIZE) -> int:
    """The page on which record ``index`` (0-based) appears, or 1 when it is filtered out."""
    return indices.index(index) // size + 1 if index in indices else 1


# --------------------------------------------------------------------------- editing


def record_json(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, indent=2)


def template_for(kind_name: str) -> dict:
    """A blank row of the dataset's kind, offered in the editor for a new row."""
    if kind_name == "text":
        return {"text": ""}
    if kind_name == "preference":
        return {"prompt": [{"role": "user", "content": ""}],
                "chosen": [{"role": "assistant", "content": ""}],
                "rejected": [{"role": "assistant", "content": ""}]}
    return {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]}


def parse_record(text: str, expected_kind: str | None = None) -> dict:
    """A record from the editor's JSON, in any supported format, converted to the normal shape.

    Raises DataError in plain words: people paste alpaca or sharegpt rows too, and those are
    converted rather than refused; a row of another kind than the dataset is refused, because a
    dataset that mixes chat and preference rows cannot be trained.
    """
    try:
        raw = json.loads(text or "")
    except json.JSONDecodeError as exc:
        raise DataError("edit_json", line=exc.lineno, column=exc.colno, detail=exc.msg) from None
    if not isinstance(raw, dict):
        raise DataError("edit_not_object")
    record = normalize([raw], detect_format([raw]), source="edited row")[0]
    if expected_kind and kind(record) != expected_kind:
        raise DataError("edit_kind", expected=expected_kind, got=kind(record))
    return record


def set_row(records: list[dict], undo: list, index: int, record: dict) -> None:
    _check_index(records, index)
    undo.append(("set", index, records[index]))
    records[index] = record


def add_row(records: list[dict], undo: list, record: dict) -> int:
    records.append(record)
    undo.append(("delete", len(records) - 1, None))
    return len(records) - 1


def delete_row(records: list[dict], undo: list, index: int) -> None:
    _check_index(records, index)
    undo.append(("insert", index, records.pop(index)))


def undo_last(records: list[dict], undo: list) -> int | None:
    """Revert the latest change; returns the index it touched, or None when nothing is left."""
    if not undo:
        return None
    op, index, record = undo.pop()
    if op == "set":
        records[index] = record
    elif op == "delete":
        records.pop(index)
        index = max(0, index - 1)
    else:
        records.insert(index, record)
    return index


def _check_index(records: list[dict], index: int) -> None:
    if not 0 <= index < len(records):
        raise DataError("edit_row_range", row=index + 1, total=len(records))
