"""A conversation as the model sees it: the chat template applied, and which tokens it learns.

``tokenize_conversation`` renders messages with the tokenizer's own chat template and marks the
tokens of each assistant turn (its end-of-turn token included, so the model learns to stop). The
mask comes from rendering growing prefixes of the conversation, so it works with any template,
not only those with ``{% generation %}`` markers. A turn with ``weight`` 0 is shown but not
trained; tool results are never trained, the calls an assistant makes are.

Tools and reasoning go where the template has a slot for them (``render_inputs``): the tool
schemas as ``apply_chat_template(tools=...)`` and the assistant's ``tool_calls`` and
``reasoning_content`` as message fields, so a template that supports them renders its native
format. A template without a tools slot gets the documented fallback: the schemas described at
the end of the system prompt ("You can call these tools: [...]") and each call written in the
answer as ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``; one without a reasoning
slot gets the reasoning at the start of the answer inside ``<think>...</think>``. ``notes`` says
which applied, for the Data tab. The trainer and the Data tab's preview both call this module, so
what a user sees highlighted is exactly what is trained.
"""

from __future__ import annotations

import json


def _source(tokenizer) -> str:
    template = getattr(tokenizer, "chat_template", None) or ""
    return template if isinstance(template, str) else json.dumps(template)


def has_tools_slot(tokenizer) -> bool:
    return "tools" in _source(tokenizer)


def has_reasoning_slot(tokenizer) -> bool:
    return "reasoning_content" in _source(tokenizer)


def notes(tokenizer, record: dict) -> list[str]:
    """How this template renders the record's tools and reasoning (keys the UI translates)."""
    turns = [m for key in ("messages", "prompt", "chosen", "rejected") for m in record.get(key, [])]
    out = []
    if record.get("tools") or any(m.get("tool_calls") for m in turns):
        out.append("tools_native" if has_tools_slot(tokenizer) else "tools_fallback")
    if any(m.get("reasoning_content") for m in turns):
        out.append("reasoning_native" if has_reasoning_slot(tokenizer) else "reasoning_think")
    return out


def _call_text(call: dict) -> str:
    fn = call["function"]
    body = json.dumps({"name": fn["name"], "arguments": fn["arguments"]}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


def render_inputs(tokenizer, messages: list[dict], tools: list | None = None,
                  native: bool = True) -> tuple[list[dict], list | None]:
    """(messages, tools) in the form this template takes (see the module docstring)."""
    native_tools = native and has_tools_slot(tokenizer)
    native_reasoning = native and has_reasoning_slot(tokenizer)
    out = []
    for m in messages:
        m = dict(m)
        if m.get("reasoning_content") and not native_reasoning:
            m["content"] = f"<think>\n{m.pop('reasoning_content')}\n</think>\n\n{m['content']}"
        if m.get("tool_calls") and not native_tools:
            calls = "\n".join(_call_text(c) for c in m.pop("tool_calls"))
            m["content"] = f"{m['content']}\n{calls}" if m["content"] else calls
        out.append(m)
    if not tools or native_tools:
        return out, (tools or None)
    described = f"You can call these tools:\n{json.dumps(tools, ensure_ascii=False)}"
    if out and out[0]["role"] == "system":
        out[0] = {**out[0], "content": f"{out[0]['content']}\n\n{described}".strip()}
    else:
        out.insert(0, {"role": "system", "content": described})
    return out, None


def _render(tokenizer, messages: list[dict], tools=None, add_generation_prompt=False) -> str:
    kwargs = {"tools": tools} if tools else {}
    messages = [{k: v for k, v in m.items() if k != "weight"} for m in messages]
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=add_generation_prompt, **kwargs)


def render(tokenizer, messages: list[dict], tools: list | None = None) -> str:
    """The whole conversation as the template writes it."""
    return _render(tokenizer, *render_inputs(tokenizer, messages, tools))


def render_generation(tokenizer, messages: list[dict], tools: list | None = None) -> str:
    """The conversation plus the opening of the assistant's answer: what a server prompts with."""
    return _render(tokenizer, *render_inputs(tokenizer, messages, tools),
                   add_generation_prompt=True)


def assistant_spans(tokenizer, messages: list[dict],
                    tools: list | None = None) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the character spans of every trained assistant turn in it."""
    shown, tools = render_inputs(tokenizer, messages, tools)
    text = _render(tokenizer, shown, tools)
    spans, cursor = [], 0
    for i, msg in enumerate(shown):
        if msg["role"] != "assistant" or msg.get("weight", 1) == 0:
            continue
        start = len(_render(tokenizer, shown[:i], tools, add_generation_prompt=True))
        end = len(_render(tokenizer, shown[: i + 1], tools))
        prefix_ok = text.startswith(_render(tokenizer, shown[: i + 1], tools))
        if not prefix_ok or start > end:
            # Templates that rewrite earlier turns (e.g. dropping old reasoning) are not
            # prefix-stable; fall back to finding the answer text after the last span.
            start = text.find(msg["content"], cursor) if msg["content"] else -1
            if start < 0:
                continue
            end = start + len(msg["content"])
        spans.append((start, end))
        cursor = end
    return text, spans


def tokenize_conversation(tokenizer, messages: list[dict], assistant_only: bool = True,
                          tools: list | None = None) -> dict:
    """``input_ids`` plus ``assistant_masks`` (1 = trained) for one conversation."""
    text, spans = assistant_spans(tokenizer, messages, tools)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    if not assistant_only:
        mask = [1] * len(enc["input_ids"])
    else:
        mask = [int(any(s < e_tok and s_tok < e for s, e in spans) if e_tok > s_tok else 0)
                for s_tok, e_tok in enc["offset_mapping"]]
    return {"input_ids": enc["input_ids"], "assistant_masks": mask}


def tokenize_text(tokenizer, text: str) -> dict:
    """Plain text for continued pre-training: every token is learned; EOS marks the end."""
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    if tokenizer.eos_token_id is not None:
        ids = ids + [tokenizer.eos_token_id]
    return {"input_ids": ids, "assistant_masks": [1] * len(ids)}


def tokenize_record(tokenizer, record: dict, assistant_only: bool = True) -> dict:
    if "text" in record:
        return tokenize_text(tokenizer, record["text"])
    return tokenize_conversation(tokenizer, record["messages"], assistant_only,
                                 record.get("tools"))

