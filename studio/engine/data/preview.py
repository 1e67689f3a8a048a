"""One row as the model sees it, and token-length statistics against the chosen max length.

``pieces`` cuts the chat-template text at token boundaries taken from the tokenizer's
``offset_mapping`` and marks each piece trained or masked with the same mask the trainer uses
(``template.tokenize_record``). Slicing the original string, rather than decoding token by token,
keeps multi-byte characters whole: byte-level BPE often splits one Chinese character over two
tokens, which decode to replacement characters on their own. ``lengths`` measures every row with
one batched tokenizer call, so a few thousand rows take about a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from studio.engine.data.template import assistant_spans, render, tokenize_record


@dataclass
class Piece:
    text: str
    trained: bool
    tokens: int  # how many tokens the piece spans
    special: bool = False  # a token with no text of its own (BOS/EOS added by the tokenizer)


@dataclass
class LengthStats:
    count: int
    mean: float
    p50: int
    p95: int
    max: int
    max_length: int
    over: list[int]  # 1-based rows longer than max_length
    bins: list[tuple[int, int, int]]  # (start, end, rows) of the histogram
    failed: dict[int, str]  # 1-based row -> why the chat template could not render it


@lru_cache(maxsize=4)
def cached_tokenizer(model_id: str):
    """Tokenizers load in seconds; the preview asks for the same one on every click."""
    from studio.engine.models import load_tokenizer

    return load_tokenizer(model_id)


def conversations(record: dict) -> list[tuple[str, dict]]:
    """The sequences one record trains on: one for SFT rows, chosen and rejected for pairs."""
    if "chosen" in record:
        tools = {"tools": record["tools"]} if record.get("tools") else {}
        return [("chosen", {"messages": record["prompt"] + record["chosen"], **tools}),
                ("rejected", {"messages": record["prompt"] + record["rejected"], **tools})]
    return [("", record)]


def pieces(tokenizer, record: dict, assistant_only: bool = True) -> list[Piece]:
    """(text, trained) runs of one SFT record, cut at token boundaries, merged by mask."""
    enc = tokenize_record(tokenizer, record, assistant_only)
    if "text" in record:
        text = record["text"]
        offsets = tokenizer(text, add_special_tokens=True,
                            return_offsets_mapping=True)["offset_mapping"]
        offsets = [*offsets, (0, 0)] if len(offsets) < len(enc["input_ids"]) else offsets
    else:
        text, _ = assistant_spans(tokenizer, record["messages"], record.get("tools"))
        offsets = tokenizer(text, add_special_tokens=False,
                            return_offsets_mapping=True)["offset_mapping"]
    runs: list[tuple[Piece, list[str]]] = []
    cursor = 0
    for token_id, trained, (start, end) in zip(enc["input_ids"], enc["assistant_masks"], offsets):
        if end <= start:  # added by the tokenizer, not present in the text: show its name
            name = tokenizer.convert_ids_to_tokens(token_id)
            runs.append((Piece(name, bool(trained), 1, True), [name]))
            continue
        # Tokens that share a character (a split multi-byte one) add their text only once.
        piece, cursor = text[max(start, cursor):end], max(cursor, end)
        _append(runs, Piece(piece, bool(trained), 1))
    if cursor < len(text):  # text the tokenizer dropped (rare): shown, never trained
        _append(runs, Piece(text[cursor:], False, 0))
    for piece, parts in runs:
        piece.text = "".join(parts)
    return [piece for piece, _ in runs]


def _append(runs: list[tuple[Piece, list[str]]], piece: Piece) -> None:
    """Merge ``piece`` into the last run when it has the same mask. Texts are joined once at
    the end: adding to a string per token is quadratic, and a 1 MB row took 18 s."""
    last = runs[-1][0] if runs else None
    if last and not last.special and last.trained == piece.trained:
        runs[-1][1].append(piece.text)
        last.tokens += piece.tokens
    else:
        runs.append((piece, [piece.text]))


# --------------------------------------------------------------------------- lengths


def _texts(tokenizer, record: dict) -> list[tuple[str, bool]]:
    """The strings to tokenize for one record, and whether the tokenizer adds its own tokens."""
    if "text" in record:
        return [(record["text"], True)]
    return [(render(tokenizer, conv["messages"], conv.get("tools")), False)
            for _, conv in conversations(record)]


def lengths(tokenizer, records: list[dict]) -> tuple[list[int | None], dict[int, str]]:
    """Tokens per record (the longer side of a pair); None where the template failed."""
    texts, owners, failed = [], [], {}
    for i, record in enumerate(records):
        try:
            for text, special in _texts(tokenizer, record):
                texts.append((text, special))
                owners.append(i)
        except Exception as exc:  # jinja raises for roles or orders a template refuses
            failed[i + 1] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    out: list[int | None] = [None] * len(records)
    for special in (False, True):
        batch = [(j, t) for j, (t, s) in enumerate(texts) if s == special]
        if not batch:
            continue
        ids = tokenizer([t for _, t in batch], add_special_tokens=special)["input_ids"]
        for (j, _), seq in zip(batch, ids):
            n = len(seq) + (1 if special and tokenizer.eos_token_id is not None else 0)
            out[owners[j]] = max(out[owners[j]] or 0, n)
    return out, failed


def stats(token_lengths: list[int | None], max_length: int, failed: dict | None = None,
          bins: int = 24) -> LengthStats:
    known = sorted(n for n in token_lengths if n is not None)
    over = [i + 1 for i, n in enumerate(token_lengths) if n is not None and n > max_length]
    if not known:
        return LengthStats(0, 0.0, 0, 0, 0, max_length, over, [], failed or {})
    return LengthStats(count=len(known), mean=sum(known) / len(known),
                       p50=_percentile(known, 50), p95=_percentile(known, 95), max=known[-1],
                       max_length=max_length, over=over, bins=histogram(known, max_length, bins),
                       failed=failed or {})


def _percentile(sorted_values: list[int], q: float) -> int:
    k = max(0, math.ceil(q / 100 * len(sorted_values)) - 1)
    return sorted_values[k]


def _nice(step: float) -> int:
    """Round a bin width up to 1, 2 or 5 times a power of ten, so the axis reads well."""
    if step <= 1:
        return 1
    power = 10 ** math.floor(math.log10(step))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= step)


def histogram(values: list[int], max_length: int, bins: int = 24) -> list[tuple[int, int, int]]:
    """Bins covering every value and the max length itself, which the chart marks."""
    top = max(max(values), max_length) + 1
    width = _nice(top / bins)
    counts = [0] * math.ceil(top / width)
    for v in values:
        counts[v // width] += 1
    return [(k * width, (k + 1) * width, c) for k, c in enumerate(counts)]
