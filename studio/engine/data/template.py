"""A conversation as the model sees it: the chat template applied, and which tokens it learns.

``tokenize_conversation`` renders messages with the tokenizer's own chat template and marks the
tokens of each assistant turn (its end-of-turn token included, so the model learns to stop). The
mask comes from rendering growing prefixes of the conversation, so it works with any template,
not only those with ``{% generation %}`` markers. The trainer and the Data tab's preview both call
it, so what a user sees highlighted is exactly what is trained.
"""

from __future__ import annotations


def _render(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)


def assistant_spans(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the character spans of every assistant turn in it."""
    text = _render(tokenizer, messages)
    spans, cursor = [], 0
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        start = len(_render(tokenizer, messages[:i], add_generation_prompt=True))
        end = len(_render(tokenizer, messages[: i + 1]))
        prefix_ok = text.startswith(_render(tokenizer, messages[: i + 1]))
        if not prefix_ok or start > end:
            # Templates that rewrite earlier turns (e.g. dropping old reasoning) are not
            # prefix-stable; fall back to finding the answer text after the last span.
            start = text.find(msg["content"], cursor)
            if start < 0:
                continue
            end = start + len(msg["content"])
        spans.append((start, end))
        cursor = end
    return text, spans


def tokenize_conversation(tokenizer, messages: list[dict], assistant_only: bool = True) -> dict:
    """``input_ids`` plus ``assistant_masks`` (1 = trained) for one conversation."""
    text, spans = assistant_spans(tokenizer, messages)
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
    return tokenize_conversation(tokenizer, record["messages"], assistant_only)

