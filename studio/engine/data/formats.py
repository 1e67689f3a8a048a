"""Training data: read the files users bring, detect their format, convert them to one shape.

Users bring json, jsonl, csv and parquet files or hub dataset ids in the formats the community
uses: alpaca (instruction/input/output/system/history), sharegpt (conversations of from/value,
with system and tools), OpenAI/TRL messages (role/content), plain text for continued
pre-training, and preference pairs (TRL's prompt/chosen/rejected and LLaMA-Factory's
conversations + chosen/rejected). Every row becomes one of three normal shapes:
``{"messages": [...]}``, ``{"prompt": [...], "chosen": [...], "rejected": [...]}`` or
``{"text": ...}``. Problems are reported with the file, the row and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("alpaca", "sharegpt", "messages", "text", "preference")
SUFFIXES = (".json", ".jsonl", ".csv", ".parquet")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "function_call": "assistant", "observation": "tool",
                  "tool": "tool", "function": "tool"}
ROLES = ("system", "user", "assistant", "tool")


class DataError(ValueError):
    """Data that cannot be read or converted; the message names file, row and field."""


@dataclass
class Problem:
    """One validation finding, shown in the Data tab's list and by the CLI."""

    row: int  # 1-based, as people count rows
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.message}"


# --------------------------------------------------------------------------- reading


def read_rows(source: str | Path, split: str = "train") -> list[dict]:
    """Raw rows from a local file or, for an ``owner/name`` id, from the hub."""
    path = Path(source)
    if path.suffix.lower() in SUFFIXES or path.exists():
        return _read_file(path)
    return _read_hub(str(source), split)


def _read_file(path: Path) -> list[dict]:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            rows = _read_json(path)
        elif suffix == ".jsonl":
            rows = _read_jsonl(path)
        elif suffix in (".csv", ".parquet"):
            import pandas as pd

            frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
            rows = frame.where(frame.notna(), None).to_dict(orient="records")
        else:
            raise DataError(f"{path}: unsupported file type '{suffix}'; use "
                            f"{', '.join(SUFFIXES)}")
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for a damaged file
        raise DataError(f"{path}: cannot be read: {exc}") from exc
    if not rows:
        raise DataError(f"{path}: the file holds no rows")
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise DataError(f"{path}: row {i}: expected an object of fields, got "
                            f"{type(row).__name__}")
    return rows


def _read_json(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{") and "\n{" in text:
            return _read_jsonl(path)  # JSON Lines saved as .json is common; accept it
        raise DataError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                        f"{exc.msg}") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError(f"{path}: expected a list of rows, got an object")
        data = lists[0]
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a list of rows")
    return data


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {lineno} is not valid JSON: {exc.msg}") from None
    return rows


def _read_hub(dataset_id: str, split: str) -> list[dict]:
    import datasets

    try:
        return list(datasets.load_dataset(dataset_id, split=split))
    except Exception as exc:
        raise DataError(f"hub dataset '{dataset_id}' (split {split}) could not be loaded: "
                        f"{exc}") from exc


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
    raise DataError(f"cannot tell the format from the fields {sorted(keys)}: expected alpaca "
                    "(instruction/output), sharegpt (conversations), messages, text, or "
                    "chosen/rejected pairs. Map your columns in the Data tab.")


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
        raise DataError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    mapping = {**default_mapping(fmt, rows), **(mapping or {})}
    convert = {"alpaca": _from_alpaca, "sharegpt": _from_sharegpt, "messages": _from_messages,
               "text": _from_text, "preference": _from_preference}[fmt]
    out = []
    for i, row in enumerate(rows, 1):
        try:
            out.append(convert(row, mapping))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise DataError(f"{source}: row {i}: {_describe(exc)}") from None
    return out


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"field {exc} is missing"
    return str(exc)


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
            raise ValueError("field 'history' must hold [question, answer] pairs")
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
        raise ValueError(f"field '{field}' must be a list of turns")
    out = []
    for j, turn in enumerate(turns, 1):
        if not isinstance(turn, dict) or "from" not in turn:
            raise ValueError(f"field '{field}' turn {j} needs 'from' and 'value'")
        role = SHAREGPT_ROLES.get(turn["from"])
        if role is None:
            raise ValueError(f"field '{field}' turn {j}: unknown role '{turn['from']}'")
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
        raise ValueError(f"field '{field}' must be a list of messages")
    out = []
    for j, msg in enumerate(value, 1):
        if not isinstance(msg, dict):
            raise ValueError(f"field '{field}' message {j} must be an object")
        if "from" in msg:
            out += _sharegpt_turns([msg], field)
        elif "role" in msg:
            out.append({"role": str(msg["role"]), "content": _text(msg.get("content"), field)})
        else:
            raise ValueError(f"field '{field}' message {j} needs 'role' and 'content'")
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


# --------------------------------------------------------------------------- validation


def validate(records: list[dict]) -> list[Problem]:
    """Problems a person should fix before training, each with its row number."""
    problems = []
    for i, rec in enumerate(records, 1):
        if "text" in rec:
            if not rec["text"].strip():
                problems.append(Problem(i, "text", "empty text"))
            continue
        if "chosen" in rec:
            problems += _check_turns(i, "prompt", rec["prompt"], needs_answer=False)
            for side in ("chosen", "rejected"):
                if not any(m["content"].strip() for m in rec[side]):
                    problems.append(Problem(i, side, f"empty {side} answer"))
            continue
        problems += _check_turns(i, "messages", rec["messages"], needs_answer=True)
    return problems


def _check_turns(i: int, field: str, messages: list[dict], needs_answer: bool) -> list[Problem]:
    problems, previous = [], None
    for j, msg in enumerate(messages, 1):
        role = msg["role"]
        where = f"{field}[{j}]"
        if role not in ROLES:
            problems.append(Problem(i, where, f"unknown role '{role}'"))
        elif role == "system" and j != 1:
            problems.append(Problem(i, where, "a system turn must come first"))
        elif role == "assistant" and previous not in ("user", "tool"):
            problems.append(Problem(i, where, "assistant turn without a user turn before it"))
        elif role == "user" and previous == "user":
            problems.append(Problem(i, where, "two user turns in a row"))
        if role == "assistant" and not msg["content"].strip():
            problems.append(Problem(i, where, "empty answer"))
        previous = role
    if needs_answer and not any(m["role"] == "assistant" for m in messages):
        problems.append(Problem(i, field, "no assistant answer to learn from"))
    return problems


def load_records(source: str | Path, fmt: str | None = None, mapping: dict | None = None,
                 split: str = "train") -> tuple[list[dict], str]:
    """Read and normalize in one call; returns (records, detected or given format)."""
    rows = read_rows(source, split)
    fmt = fmt or detect_format(rows)
    return normalize(rows, fmt, mapping, source=str(source)), fmt


def save_jsonl(records: list[dict], path: Path) -> Path:
    """Write records as JSON Lines (the studio's saved-dataset format); never overwrites."""
    if path.exists():
        raise DataError(f"{path} already exists; choose another name")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    tmp.rename(path)
    return path
