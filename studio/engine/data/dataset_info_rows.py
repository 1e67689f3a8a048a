"""Rows of a ``dataset_info.json`` entry renamed into the shapes ``formats`` reads.

``convert_rows`` applies an entry's ``formatting``, ``columns``, ``tags`` and ``ranking`` to the
rows its file holds: alpaca columns become instruction/input/output/system/history, sharegpt turns
with the entry's own role and content tags become ``conversations`` of from/value, ranked entries
become preference rows and a ``kto_tag`` column a ``label``. A row that does not fit (a role no
tag names, a missing column) raises ``DataError`` naming the entry, the row and what was expected.
``Entry`` is the checked description of one entry (see ``dataset_info.parse_entry``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.engine.errors import DataError

# which studio sharegpt role each tag names (later tags win a shared value, as in LLaMA-Factory)
ROLE_OF_TAG = {"user_tag": "human", "assistant_tag": "gpt", "observation_tag": "observation",
               "function_tag": "function_call", "system_tag": "system"}

@dataclass(frozen=True)
class Entry:
    """One entry, checked: where its rows are and how they are named."""

    name: str
    label: str  # "<dataset_info.json>#<name>", used in every message
    info_path: Path
    spec: dict
    formatting: str
    ranking: bool
    columns: dict
    named: frozenset  # the column keys the entry names itself
    tags: dict
    hub: str | None


def convert_rows(entry: Entry, rows: list[dict], label: str) -> list[dict]:
    """``rows`` of ``entry`` in the studio's shapes; a bad row raises naming ``label`` and it."""
    _check_columns(entry, rows, label)
    if entry.formatting == "sharegpt":
        convert = _sharegpt_row
    elif _is_text(entry, rows):
        convert = _text_row
    else:
        convert = _alpaca_row
    out = []
    for i, row in enumerate(rows, 1):
        try:
            out.append(convert(row, entry))
        except DataError as exc:
            raise DataError("data_row", path=label, row=i, reason=exc.reason) from None
    return out


def _keys(rows: list[dict]) -> set:
    return set().union(*(row.keys() for row in rows))


def _check_columns(entry: Entry, rows: list[dict], label: str) -> None:
    """Every column the entry names, and the one it cannot do without, is in some row."""
    keys, c = _keys(rows), entry.columns
    needed = {"prompt" if entry.formatting == "alpaca" else "messages"}
    needed |= {"chosen", "rejected"} if entry.ranking else set()
    for key in sorted(entry.named | needed):
        if c[key] and c[key] not in keys:
            raise DataError("info_column_missing", entry=label, key=key, column=c[key],
                            found=", ".join(sorted(keys)[:20]))


def _is_text(entry: Entry, rows: list[dict]) -> bool:
    """A pre-training entry: it names a prompt column and no answer of any kind."""
    c = entry.columns
    return (not entry.ranking and not c["kto_tag"] and "response" not in entry.named
            and not c["history"] and c["response"] not in _keys(rows))


def _scalar(value) -> str:
    if value is None or (isinstance(value, float) and value != value):  # NaN: an empty cell
        return ""
    return value if isinstance(value, str) else str(value)


def _joined(row: dict, c: dict) -> str:
    """LLaMA-Factory's user turn: prompt and query joined by a newline, empty ones left out."""
    parts = [_scalar(row.get(c[k])) for k in ("prompt", "query") if c[k]]
    return "\n".join(p for p in parts if p)


def _require(row: dict, column: str) -> None:
    if column not in row:
        raise DataError("row_field_missing", field=column)


def _history_turns(row: dict, c: dict) -> list[dict]:
    history = row.get(c["history"]) if c["history"] else None
    if not history:
        return []
    if not isinstance(history, list):
        raise DataError("row_history_pairs")
    turns = []
    for pair in history:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise DataError("row_history_pairs")
        turns += [{"from": "human", "value": pair[0]}, {"from": "gpt", "value": pair[1]}]
    return turns


def _with_extras(out: dict, row: dict, c: dict, system=None) -> dict:
    system = row.get(c["system"]) if system is None and c["system"] else system
    if system not in (None, ""):
        out["system"] = system
    if c["tools"] and row.get(c["tools"]) not in (None, ""):
        out["tools"] = row[c["tools"]]
    return out


def _text_row(row: dict, entry: Entry) -> dict:
    _require(row, entry.columns["prompt"])
    return {"text": _joined(row, entry.columns)}


def _alpaca_row(row: dict, entry: Entry) -> dict:
    c = entry.columns
    _require(row, c["prompt"])
    if entry.ranking:
        _require(row, c["chosen"])
        _require(row, c["rejected"])
        history, prompt = _history_turns(row, c), _joined(row, c)
        out = {"prompt": [*history, {"from": "human", "value": prompt}] if history else prompt,
               "chosen": row[c["chosen"]], "rejected": row[c["rejected"]]}
        return _with_extras(out, row, c)
    _require(row, c["response"])
    if c["kto_tag"] or c["tools"]:  # alpaca rows keep neither: say it as a conversation
        turns = [*_history_turns(row, c), {"from": "human", "value": _joined(row, c)},
                 {"from": "gpt", "value": row[c["response"]]}]
        out = {"conversations": turns}
        if c["kto_tag"]:
            out["label"] = _kto_label(row, c["kto_tag"])
        return _with_extras(out, row, c)
    out = {"instruction": row[c["prompt"]], "input": row.get(c["query"]) if c["query"] else "",
           "output": row[c["response"]]}
    if c["history"]:
        out["history"] = row.get(c["history"])
    return _with_extras(out, row, c)


def _sharegpt_row(row: dict, entry: Entry) -> dict:
    c, tags = entry.columns, entry.tags
    _require(row, c["messages"])
    turns = _turns(row[c["messages"]], c["messages"], tags)
    system = None
    if turns and turns[0]["from"] == "system":  # a leading system turn overrides the column
        system, turns = turns[0]["value"], turns[1:]
    out = {"conversations": turns}
    if entry.ranking:
        for side in ("chosen", "rejected"):
            _require(row, c[side])
            out[side] = _answer(row[c[side]], c[side], tags)
    if c["kto_tag"]:
        out["label"] = _kto_label(row, c["kto_tag"])
    return _with_extras(out, row, c, system)


def _turns(value, field: str, tags: dict) -> list[dict]:
    if not isinstance(value, list):
        raise DataError("row_turns_list", field=field)
    return [_turn(raw, field, j, tags) for j, raw in enumerate(value, 1)]


def _turn(raw, field: str, turn: int, tags: dict) -> dict:
    role_tag, content_tag = tags["role_tag"], tags["content_tag"]
    if not isinstance(raw, dict) or role_tag not in raw or content_tag not in raw:
        raise DataError("info_row_turn", field=field, turn=turn, role_tag=role_tag,
                        content_tag=content_tag)
    roles = {tags[key]: role for key, role in ROLE_OF_TAG.items() if tags[key] is not None}
    role = raw[role_tag]
    if not isinstance(role, str) or role not in roles:
        raise DataError("info_row_role", field=field, turn=turn, role=str(role),
                        expected=", ".join(roles))
    return {"from": roles[role], "value": raw[content_tag]}


def _answer(value, field: str, tags: dict):
    """A chosen or rejected answer: one turn, a list of turns, or plain text."""
    if isinstance(value, dict):
        return _turn(value, field, 1, tags)
    if isinstance(value, list):
        return _turns(value, field, tags)
    return value


def _kto_label(row: dict, column: str) -> bool:
    value = row.get(column)
    value = value.item() if hasattr(value, "item") else value  # numpy's bool from a table
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise DataError("info_row_kto", field=column, got=repr(value))
