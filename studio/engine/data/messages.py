"""One chat message in any of the community's shapes, converted to the studio's message.

A studio message is ``{"role", "content"}`` plus, where the data has them, ``tool_calls``
(OpenAI's ``[{"type": "function", "function": {"name", "arguments": {...}}}]``, arguments parsed
from JSON), ``reasoning_content`` (the model's thinking, from ``reasoning_content`` /
``reasoning`` / ``thinking`` fields or reasoning parts), ``name`` / ``tool_call_id`` on tool
results, and ``weight`` (0 = do not train on this turn, from ``loss_weight`` / ``weight``).
Content given as a list of parts (``[{"type": "text", "text": ...}]``, or ``value`` instead of
``text``) is joined in order; parts a language model cannot take (images, audio) are kept as they
are, never stringified, so ``validate`` lists them as a row problem. How the chat template then
renders tools and reasoning is ``template``'s job.
"""

from __future__ import annotations

import json

from studio.engine.errors import DataError

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "function_call": "assistant", "observation": "tool",
                  "tool": "tool", "function": "tool"}
REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")
REASONING_PARTS = ("reasoning", "thinking")
WEIGHT_KEYS = ("loss_weight", "weight")


def text_of(value) -> str:
    """A scalar cell as text: None and NaN (an empty csv cell) are empty."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value if isinstance(value, str) else str(value)


def content_of(value):
    """(content, reasoning): text parts joined; a list with other parts is returned as is."""
    if isinstance(value, dict) and "type" in value:
        value = [value]
    if not isinstance(value, list):
        return (value if isinstance(value, dict) else text_of(value)), ""
    texts, thoughts = [], []
    for part in value:
        kind = part.get("type", "text") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(text_of(part.get("text", part.get("value"))))
        elif kind in REASONING_PARTS:
            thoughts.append(text_of(part.get("text", part.get(kind, part.get("value")))))
        else:
            return value, ""  # an image, audio or unknown part: validate names it
    return "\n".join(texts), "\n".join(thoughts)


def tool_call(raw, field: str, turn: int) -> dict:
    """One call as ``{"type": "function", "function": {"name", "arguments"}}``."""
    if isinstance(raw, str):
        raw = _json(raw, field, turn)
    if not isinstance(raw, dict):
        raise DataError("row_tool_call", field=field, turn=turn, detail="expected an object")
    fn = raw.get("function", raw)
    name = fn.get("name") if isinstance(fn, dict) else None
    if not name:
        raise DataError("row_tool_call", field=field, turn=turn, detail="the call has no name")
    args = fn.get("arguments", fn.get("parameters", {}))
    if isinstance(args, str):
        args = _json(args, field, turn) if args.strip() else {}
    call = {"type": "function", "function": {"name": str(name), "arguments": args}}
    if raw.get("id"):
        call["id"] = str(raw["id"])
    return call


def _json(text: str, field: str, turn: int):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError("row_tool_call", field=field, turn=turn,
                        detail=f"not valid JSON: {exc.msg}") from None


def message(raw: dict, field: str, turn: int) -> dict:
    """A ``{"role", "content", ...}`` message as a studio message."""
    content, reasoning = content_of(raw.get("content"))
    out = {"role": text_of(raw["role"]), "content": content}
    calls = raw.get("tool_calls") or ([raw["function_call"]] if raw.get("function_call") else [])
    if calls:
        if not isinstance(calls, list):
            calls = [calls]
        out["tool_calls"] = [tool_call(c, field, turn) for c in calls]
    reasoning = next((text_of(raw[k]) for k in REASONING_KEYS if raw.get(k)), reasoning)
    if reasoning:
        out["reasoning_content"] = reasoning
    for key in ("name", "tool_call_id"):
        if raw.get(key):
            out[key] = text_of(raw[key])
    weight = next((raw[k] for k in WEIGHT_KEYS if k in raw), None)
    if weight is not None:
        out["weight"] = weight
    return out


def sharegpt_turn(raw: dict, field: str, turn: int) -> dict:
    """A ``{"from", "value"}`` turn; ``function_call`` values are the call's JSON."""
    if not isinstance(raw, dict) or "from" not in raw:
        raise DataError("row_turn_shape", field=field, turn=turn)
    role = SHAREGPT_ROLES.get(raw["from"])
    if role is None:
        raise DataError("row_turn_role", field=field, turn=turn, role=raw["from"])
    if raw["from"] == "function_call":
        calls = raw["value"]
        calls = _json(calls, field, turn) if isinstance(calls, str) else calls
        calls = calls if isinstance(calls, list) else [calls]
        return {"role": "assistant", "content": "",
                "tool_calls": [tool_call(c, field, turn) for c in calls]}
    content, reasoning = content_of(raw.get("value"))
    out = {"role": role, "content": content}
    if reasoning:
        out["reasoning_content"] = reasoning
    return out


def messages_of(value, field: str) -> list[dict]:
    """A list of messages in any shape (a bare string is one assistant answer)."""
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise DataError("row_messages_list", field=field)
    out = []
    for j, raw in enumerate(value, 1):
        if not isinstance(raw, dict):
            raise DataError("row_message_object", field=field, turn=j)
        if "from" in raw:
            out.append(sharegpt_turn(raw, field, j))
        elif "role" in raw:
            out.append(message(raw, field, j))
        else:
            raise DataError("row_message_shape", field=field, turn=j)
    return _merge_calls(out)


def sharegpt_turns(turns, field: str) -> list[dict]:
    if not isinstance(turns, list):
        raise DataError("row_turns_list", field=field)
    return _merge_calls([sharegpt_turn(t, field, j) for j, t in enumerate(turns, 1)])


def _merge_calls(messages: list[dict]) -> list[dict]:
    """A sharegpt ``gpt`` turn followed by its ``function_call`` turn is one assistant turn."""
    out: list[dict] = []
    for msg in messages:
        prev = out[-1] if out else None
        if (prev and msg.get("tool_calls") and not msg.get("content") and prev["role"] ==
                "assistant" and "tool_calls" not in prev and isinstance(prev["content"], str)):
            prev["tool_calls"] = msg["tool_calls"]
            continue
        out.append(msg)
    return out


def tools_of(value, field: str = "tools") -> list:
    """The row's tool schemas as a list (a JSON string is parsed); empty when none."""
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DataError("row_tools", field=field, detail=f"not valid JSON: {exc.msg}") \
                from None
    value = [value] if isinstance(value, dict) else value
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise DataError("row_tools", field=field, detail="expected a list of function schemas")
    return value


def split_last_answer(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the turns before the last assistant turn, [that turn]); ([all turns], []) when no
    assistant has answered yet (a question left for the model)."""
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    return (messages, []) if last is None else (messages[:last], [messages[last]])
