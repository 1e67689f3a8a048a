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

from pathlib import Path

from studio.engine.data import messages as msg
from studio.engine.data.read import read_rows
from studio.engine.errors import DataError, Reason

FORMATS = ("alpaca", "sharegpt", "messages", "text", "preference")


# --------------------------------------------------------------------------- detection


def detect_format(rows: list[dict]) -> str:
    """Name the format of ``rows`` from the fields of the first rows."""
    keys = set().union(*(row.keys() for row in rows[:20]))
    if {"chosen", "rejected"} <= keys or {"chosen_messages", "rejected_messages"} <= keys:
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


# An alpaca file with only these columns holds questions without answers: SFT skips its rows
# (no answer to learn), GRPO and the AI judge answer them. A file with any other column and no
# ``output`` is more likely a renamed answer column, and says so.
QUESTION_KEYS = frozenset({"instruction", "input", "system", "history"})


def default_mapping(fmt: str, rows: list[dict]) -> dict:
    """Which column holds each part; the Data tab lets the user correct it."""
    keys = set().union(*(row.keys() for row in rows[:20]))
    if fmt == "alpaca":
        prompt = "instruction" if "instruction" in keys else "prompt"
        output = "completion" if prompt == "prompt" else "output"
        if keys <= QUESTION_KEYS:  # questions only (what GRPO and the AI judge answer)
            output = ""
        return {"instruction": prompt, "input": "input" if "input" in keys else "",
                "output": output,
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
                            reason=_missing(row, fmt, exc.args[0])) from None
        except (TypeError, AttributeError, ValueError) as exc:  # a value of an odd type
            raise DataError("data_row", path=source, row=i,
                            reason=Reason("plain", {"detail": str(exc)})) from None
    return out


def _missing(row: dict, fmt: str, field: str) -> Reason:
    """Why a row lacks ``field``: a row of another format in the file (two files pasted into
    one, say) is named as such, so the user does not go looking for a typo."""
    try:
        other = detect_format([row])
    except DataError:
        other = fmt
    if other != fmt:
        return Reason("row_other_format", {"got": other, "fmt": fmt})
    return Reason("row_field_missing", {"field": field})


def _from_alpaca(row: dict, m: dict) -> dict:
    messages = []
    if m.get("system") and row.get(m["system"]):
        messages.append({"role": "system", "content": _content(row[m["system"]])})
    for turn in (row.get(m["history"]) or []) if m.get("history") else []:
        if not isinstance(turn, (list, tuple)) or len(turn) != 2:
            raise DataError("row_history_pairs")
        messages += [{"role": "user", "content": _content(turn[0])},
                     {"role": "assistant", "content": _content(turn[1])}]
    if m["instruction"] not in row:
        raise KeyError(m["instruction"])
    prompt = _content(row[m["instruction"]])
    extra = _content(row.get(m["input"])) if m.get("input") else ""
    if isinstance(prompt, str) and isinstance(extra, str):
        prompt = f"{prompt}\n{extra}" if prompt and extra else prompt or extra
    messages.append({"role": "user", "content": prompt})
    if not m["output"]:  # a questions-only file: the answer is the model's to give
        return {"messages": messages}
    if m["output"] not in row:
        raise KeyError(m["output"])
    messages.append({"role": "assistant", "content": _content(row[m["output"]])})
    return {"messages": messages}


def _content(value):
    return msg.content_of(value)[0]


def _with_system(messages: list[dict], row: dict) -> list[dict]:
    system = _content(row.get("system"))
    if system and not (messages and messages[0]["role"] == "system"):
        messages = [{"role": "system", "content": system}, *messages]
    return messages


def _conversation(messages: list[dict], row: dict) -> dict:
    """A messages record, with the row's system prompt, tool schemas and KTO verdict."""
    out = {"messages": _with_system(messages, row)}
    tools = msg.tools_of(row.get("tools"))
    if tools:
        out["tools"] = tools  # rendered by the chat template (see template.render_inputs)
    if "label" in row:  # KTO data: keep the verdict so SFT can skip the rejected answers
        out["label"] = bool(row["label"])
    return out


def _from_sharegpt(row: dict, m: dict) -> dict:
    return _conversation(msg.sharegpt_turns(row["conversations"], "conversations"), row)


def _from_messages(row: dict, m: dict) -> dict:
    return _conversation(msg.messages_of(row["messages"], "messages"), row)


def _from_text(row: dict, m: dict) -> dict:
    return {"text": _content(row[m.get("text", "text")])}


def _from_preference(row: dict, m: dict) -> dict:
    chosen_key = "chosen" if "chosen" in row else "chosen_messages"
    rejected_key = "rejected" if "rejected" in row else "rejected_messages"
    chosen = msg.messages_of(row[chosen_key], chosen_key)
    rejected = msg.messages_of(row[rejected_key], rejected_key)
    if "conversations" in row:
        prompt = msg.sharegpt_turns(row["conversations"], "conversations")
    elif "prompt" in row:
        raw = row["prompt"]
        prompt = ([{"role": "user", "content": raw}] if isinstance(raw, str)
                  else msg.messages_of(raw, "prompt"))
    else:  # the implicit prompt: chosen and rejected share their leading turns
        k = 0
        while k < min(len(chosen), len(rejected)) - 1 and chosen[k] == rejected[k]:
            k += 1
        prompt, chosen, rejected = chosen[:k], chosen[k:], rejected[k:]
    out = {"prompt": _with_system(prompt, row), "chosen": chosen, "rejected": rejected}
    tools = msg.tools_of(row.get("tools"))
    if tools:
        out["tools"] = tools
    if "label" in row:
        out["label"] = bool(row["label"])
    return out


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
                 split: str = "train", text_split: str = "document") -> tuple[list[dict], str]:
    """Read and normalize in one call; returns (records, detected or given format)."""
    rows = read_rows(source, split, text_split=text_split)
    fmt = fmt or detect_format(rows)
    return normalize(rows, fmt, mapping, source=str(source)), fmt

