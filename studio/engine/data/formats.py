"""Training data formats: detect what the rows people bring are, and convert them to one shape.

Users bring json, jsonl, csv and parquet files or hub dataset ids in the formats the community
uses: alpaca (instruction/input/output/system/history), sharegpt (conversations of from/value,
with system and tools), OpenAI/TRL messages (role/content), plain text for continued
pre-training, and preference pairs (TRL's prompt/chosen/rejected and LLaMA-Factory's
conversations + chosen/rejected). Every row becomes one of three normal shapes:
``{"messages": [...]}``, ``{"prompt": [...], "chosen": [...], "rejected": [...]}`` or
``{"text": ...}``. A row that cannot be converted raises ``DataError`` naming the file, the row
and the field (reading is ``read``; row problems worth fixing are ``validate``).
"""

from __future__ import annotations

import json
from pathlib import Path

from studio.engine.data.read import read_rows
from studio.engine.errors import DataError, Reason

FORMATS = ("alpaca", "sharegpt", "messages", "text", "preference")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "function_call": "assistant", "observation": "tool",
                  "tool": "tool", "function": "tool"}


# --------------------------------------------------------------------------- detection


def detect_format(rows: list[dict]) -> str:
    """Name the format of ``rows`` from the fields of the first rows."""
    keys = set().union(*(row.keys() for row in rows[:20]))
    if {"chosen", "rejected"} <= keys:
        return "preference"
    if "conversations" in keys:
        return "sharegpt"
    if "messages" in keys:
        return "messages"
    if "instruction" in keys or ({"prompt", "completion"} <= keys):
        return "alpaca"
    if "text" in keys:
        return "text"
    raise DataError("data_format_unknown", fields=str(sorted(keys)))


def default_mapping(fmt: str, rows: list[dict]) -> dict:
    """Which column holds each part; the Data tab lets the user correct it."""
    keys = set().union(*(row.keys() for row in rows[:20]))
    if fmt == "alpaca":
        prompt = "instruction" if "instruction" in keys else "prompt"
        return {"instruction": prompt, "input": "input" if "input" in keys else "",
                "output": "completion" if prompt == "prompt" else "output",
                "system": "system" if "system" in keys else "",
                "history": "history" if "history" in keys else ""}
    if fmt == "text":
        return {"text": "text"}
    return {}


# --------------------------------------------------------------------------- conversion


def normalize(rows: list[dict], fmt: str | None = None, mapping: dict | None = None,
              source: str = "data") -> list[dict]:
    """Convert raw rows to the normal shapes; raises DataError naming file, row and field."""
    fmt = fmt or detect_format(rows)
    if fmt not in FORMATS:
        raise DataError("data_format_choice", fmt=fmt, choices=", ".join(FORMATS))
    mapping = {**default_mapping(fmt, rows), **(mapping or {})}
    convert = {"alpaca": _from_alpaca, "sharegpt": _from_sharegpt, "messages": _from_messages,
               "text": _from_text, "preference": _from_preference}[fmt]
    out = []
    for i, row in enumerate(rows, 1):
        try:
            out.append(convert(row, mapping))
        except DataError as exc:
            raise DataError("data_row", path=source, row=i, reason=exc.reason) from None
        except KeyError as exc:
            raise DataError("data_row", path=source, row=i,
                            reason=Reason("row_field_missing", {"field": exc.args[0]})) from None
        except (TypeError, AttributeError, ValueError) as exc:  # a value of an odd type
            raise DataError("data_row", path=source, row=i,
                            reason=Reason("plain", {"detail": str(exc)})) from None
    return out


def _text(value, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value != value:  # NaN from an empty csv cell
        return ""
    return str(value)


def _from_alpaca(row: dict, m: dict) -> dict:
    messages = []
    if m.get("system") and row.get(m["system"]):
        messages.append({"role": "system", "content": _text(row[m["system"]], "system")})
    for turn in (row.get(m["history"]) or []) if m.get("history") else []:
        if not isinstance(turn, (list, tuple)) or len(turn) != 2:
            raise DataError("row_history_pairs")
        messages += [{"role": "user", "content": _text(turn[0], "history")},
                     {"role": "assistant", "content": _text(turn[1], "history")}]
    if m["instruction"] not in row:
        raise KeyError(m["instruction"])
    prompt = _text(row[m["instruction"]], "instruction")
    extra = _text(row.get(m["input"]), "input") if m.get("input") else ""
    prompt = f"{prompt}\n{extra}" if prompt and extra else prompt or extra
    messages.append({"role": "user", "content": prompt})
    if m["output"] not in row:
        raise KeyError(m["output"])
    messages.append({"role": "assistant", "content": _text(row[m["output"]], "output")})
    return {"messages": messages}


def _sharegpt_turns(turns, field: str) -> list[dict]:
    if not isinstance(turns, list):
        raise DataError("row_turns_list", field=field)
    out = []
    for j, turn in enumerate(turns, 1):
        if not isinstance(turn, dict) or "from" not in turn:
            raise DataError("row_turn_shape", field=field, turn=j)
        role = SHAREGPT_ROLES.get(turn["from"])
        if role is None:
            raise DataError("row_turn_role", field=field, turn=j, role=turn["from"])
        out.append({"role": role, "content": _text(turn.get("value"), field)})
    return out


def _with_system_and_tools(messages: list[dict], row: dict) -> list[dict]:
    system = _text(row.get("system"), "system")
    tools = row.get("tools")
    if tools:
        # Most chat templates have no slot for tools; describing them in the system turn is
        # what LLaMA-Factory and the tool-calling datasets themselves do.
        tools_text = tools if isinstance(tools, str) else json.dumps(tools, ensure_ascii=False)
        system = f"{system}\n\nYou can call these tools:\n{tools_text}".strip()
    if system and not (messages and messages[0]["role"] == "system"):
        messages = [{"role": "system", "content": system}, *messages]
    return messages


def _from_sharegpt(row: dict, m: dict) -> dict:
    return {"messages": _with_system_and_tools(_sharegpt_turns(row["conversations"],
                                                               "conversations"), row)}


def _messages(value, field: str) -> list[dict]:
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise DataError("row_messages_list", field=field)
    out = []
    for j, msg in enumerate(value, 1):
        if not isinstance(msg, dict):
            raise DataError("row_message_object", field=field, turn=j)
        if "from" in msg:
            out += _sharegpt_turns([msg], field)
        elif "role" in msg:
            out.append({"role": str(msg["role"]), "content": _text(msg.get("content"), field)})
        else:
            raise DataError("row_message_shape", field=field, turn=j)
    return out


def _from_messages(row: dict, m: dict) -> dict:
    out = {"messages": _with_system_and_tools(_messages(row["messages"], "messages"), row)}
    if "label" in row:  # KTO data: keep the verdict so SFT can skip the rejected answers
        out["label"] = bool(row["label"])
    return out


def _from_text(row: dict, m: dict) -> dict:
    return {"text": _text(row[m.get("text", "text")], "text")}


def _from_preference(row: dict, m: dict) -> dict:
    if "conversations" in row:
        prompt = _sharegpt_turns(row["conversations"], "conversations")
    elif "prompt" in row:
        raw = row["prompt"]
        prompt = ([{"role": "user", "content": raw}] if isinstance(raw, str)
                  else _messages(raw, "prompt"))
    else:  # TRL's implicit prompt: chosen and rejected share their leading turns
        chosen, rejected = _messages(row["chosen"], "chosen"), _messages(row["rejected"],
                                                                         "rejected")
        k = 0
        while k < min(len(chosen), len(rejected)) - 1 and chosen[k] == rejected[k]:
            k += 1
        return {"prompt": chosen[:k], "chosen": chosen[k:], "rejected": rejected[k:]}
    prompt = _with_system_and_tools(prompt, row)
    return {"prompt": prompt, "chosen": _messages(row["chosen"], "chosen"),
            "rejected": _messages(row["rejected"], "rejected")}


# --------------------------------------------------------------------------- editing helpers


def fill_placeholders(records: list[dict], values: dict[str, str]) -> list[dict]:
    """Replace ``{{key}}`` in every text with ``values[key]`` (the identity demo's name)."""
    values = {k: v for k, v in values.items() if v}
    if not values:
        return records

    def fill(obj):
        if isinstance(obj, str):
            for key, value in values.items():
                obj = obj.replace("{{" + key + "}}", value)
            return obj
        if isinstance(obj, list):
            return [fill(x) for x in obj]
        if isinstance(obj, dict):
            return {k: fill(v) for k, v in obj.items()}
        return obj

    return [fill(r) for r in records]


def with_system_prompt(records: list[dict], system: str) -> list[dict]:
    """Give rows without a system turn the configured one."""
    if not system:
        return records
    out = []
    for r in records:
        key = "messages" if "messages" in r else "prompt" if "prompt" in r else None
        if key and not (r[key] and r[key][0]["role"] == "system"):
            r = {**r, key: [{"role": "system", "content": system}, *r[key]]}
        out.append(r)
    return out


def load_records(source: str | Path, fmt: str | None = None, mapping: dict | None = None,
                 split: str = "train") -> tuple[list[dict], str]:
    """Read and normalize in one call; returns (records, detected or given format)."""
    rows = read_rows(source, split)
    fmt = fmt or detect_format(rows)
    return normalize(rows, fmt, mapping, source=str(source)), fmt

