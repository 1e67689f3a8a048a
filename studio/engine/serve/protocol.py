"""OpenAI's request and response shapes: what a body may say, and how answers are written back.

Parsing turns a ``/v1/chat/completions`` or ``/v1/completions`` body into an ``Ask`` (sampling,
``n``, ``stop``, messages or prompts, tools), refusing with a ``ServeError`` that names the
offending ``param`` exactly as OpenAI's own errors do; fields clients send but that change
nothing here (``user``, ``metadata``) are accepted, and settings this engine cannot honour
(``logprobs``, penalties, forced tool choice) are refused rather than silently ignored. Messages
go through the same converter as training data (``studio.engine.data.messages``), so tool calls
and content parts read the same way in a request as in a dataset. Tool calls come back out of the
answer text in the ``<tool_call>{...}</tool_call>`` form the studio trains (and Qwen-style
templates write), as OpenAI's ``tool_calls``.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field

from studio.engine.chat.decode import Sampling
from studio.engine.errors import DataError, ServeError

MAX_N = 16
MAX_STOP = 4
DEFAULT_MAX_TOKENS = 512
UNSUPPORTED = {"logprobs": (None, False), "top_logprobs": (None, 0), "echo": (None, False),
               "presence_penalty": (None, 0, 0.0), "frequency_penalty": (None, 0, 0.0),
               "logit_bias": (None, {}), "best_of": (None, 1), "suffix": (None, "")}
TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
TOOL_OPEN = "<tool_call>"


@dataclass
class Ask:
    """One request, checked: what to write and how."""

    model: str
    sampling: Sampling
    n: int = 1
    max_tokens_set: bool = False  # an explicit max_tokens is refused, not cut, if it cannot fit
    stop: tuple[str, ...] = ()
    stream: bool = False
    include_usage: bool = False
    messages: list[dict] = field(default_factory=list)  # chat
    tools: list[dict] | None = None
    prompts: list[str] = field(default_factory=list)  # completions


def bad(param: str, detail: str) -> ServeError:
    return ServeError("serve_bad_param", param=param, detail=detail)


def parse_chat(body) -> Ask:
    ask = _common(body)
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise bad("messages", "must be a non-empty list of messages")
    from studio.engine.data.messages import messages_of, tools_of

    try:
        ask.messages = [_role(m) for m in messages_of(raw, "messages")]
    except DataError as exc:
        raise bad("messages", str(exc)) from None
    try:
        ask.tools = tools_of(body.get("tools")) or None
    except DataError as exc:
        raise bad("tools", str(exc)) from None
    for m in ask.messages:
        if not isinstance(m["content"], str):
            raise bad("messages", "only text content is supported (no images or audio)")
    choice = body.get("tool_choice", "auto")
    if choice == "none":
        ask.tools = None
    elif choice not in ("auto", None):
        raise bad("tool_choice", "only 'auto' and 'none' are supported: a small model cannot "
                                 "be forced to call a tool")
    return ask


def parse_completion(body) -> Ask:
    ask = _common(body)
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or \
            not all(isinstance(p, str) for p in prompts):
        raise bad("prompt", "must be a string or a list of strings")
    ask.prompts = prompts
    return ask


def _role(message: dict) -> dict:
    if message["role"] == "developer":  # OpenAI's newer name for the system message
        message = {**message, "role": "system"}
    if message["role"] not in ("system", "user", "assistant", "tool"):
        raise bad("messages", f"unknown role '{message['role']}'")
    return message


def _common(body) -> Ask:
    if not isinstance(body, dict):
        raise ServeError("serve_bad_json", detail="the body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("model", "is required: one of the ids GET /v1/models lists")
    for name, allowed in UNSUPPORTED.items():
        if body.get(name) not in allowed:
            raise bad(name, "is not supported by this server")
    sampling = Sampling(
        max_new_tokens=_int(body, "max_completion_tokens",
                            _int(body, "max_tokens", DEFAULT_MAX_TOKENS)),
        temperature=_num(body, "temperature", 1.0, 0, 2),
        top_p=_num(body, "top_p", 1.0, 0, 1, open_low=True),
        top_k=0, repetition_penalty=1.0,
        seed=_int(body, "seed", secrets.randbelow(2**31), low=0))
    if sampling.max_new_tokens < 1:
        raise bad("max_tokens", "must be at least 1")
    n = _int(body, "n", 1)
    if not 1 <= n <= MAX_N:
        raise bad("n", f"must be between 1 and {MAX_N}")
    stream_options = body.get("stream_options") or {}
    return Ask(model=model, sampling=sampling, n=n, stop=_stops(body.get("stop")),
               max_tokens_set=any(body.get(k) is not None
                                  for k in ("max_tokens", "max_completion_tokens")),
               stream=bool(body.get("stream", False)),
               include_usage=bool(isinstance(stream_options, dict)
                                  and stream_options.get("include_usage")))


def _int(body: dict, name: str, default: int, low: int | None = None) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(name, f"must be an integer, got {json.dumps(value)}")
    if low is not None and value < low:
        raise bad(name, f"must be at least {low}")
    return value


def _num(body: dict, name: str, default: float, low: float, high: float,
         open_low: bool = False) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(name, f"must be a number, got {json.dumps(value)}")
    if value > high or value < low or (open_low and value == low):
        side = ">" if open_low else ">="
        raise bad(name, f"must be {side} {low} and <= {high}, got {value}")
    return float(value)


def _stops(value) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise bad("stop", "must be a string or a list of non-empty strings")
    if len(stops) > MAX_STOP:
        raise bad("stop", f"at most {MAX_STOP} stop sequences")
    return tuple(stops)


# ---------------------------------------------------------------------- answers
def held_back(text: str, marks: tuple[str, ...]) -> int:
    """How many trailing characters could still begin one of ``marks`` (kept back from a
    stream until the next token shows whether a stop string or tool call starts there)."""
    return max((n for s in marks for n in range(min(len(s) - 1, len(text)), 0, -1)
                if text.endswith(s[:n])), default=0)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def split_tool_calls(text: str) -> tuple[str, list[dict]]:
    """(content, OpenAI tool_calls) from an answer; calls that are not JSON stay as text."""
    calls, kept, cursor = [], [], 0
    for match in TOOL_CALL.finditer(text):
        try:
            call = json.loads(match.group(1))
            name, args = call["name"], call.get("arguments", call.get("parameters", {}))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
        kept.append(text[cursor:match.start()])
        cursor = match.end()
        calls.append({"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                      "function": {"name": str(name),
                                   "arguments": args if isinstance(args, str)
                                   else json.dumps(args, ensure_ascii=False)}})
    kept.append(text[cursor:])
    return "".join(kept).strip() if calls else text, calls


def chat_message(text: str, finish: str, tools: bool) -> tuple[dict, str]:
    """The assistant message of one choice and its finish reason."""
    content, calls = split_tool_calls(text) if tools else (text, [])
    message = {"role": "assistant", "content": content or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
        finish = "tool_calls"
    return message, finish


def envelope(kind: str, rid: str, model: str, choices: list[dict], **extra) -> dict:
    return {"id": rid, "object": kind, "created": int(time.time()), "model": model,
            "choices": choices, **extra}


def error_body(message: str, code: str | None, param: str | None = None,
               kind: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
