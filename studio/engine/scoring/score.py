"""The forward passes behind scoring: next-token log-probabilities of the four answers.

One question costs one forward pass. Within a subject every prompt starts with the same header and
few-shot examples, so that shared token prefix is run once and its key/value cache reused for
every batch; only each question's own tokens are computed again. Batches are sorted by length so
padding stays small, and the vocabulary projection runs only at the positions that are read. The
numbers are the harness's: log-softmax over the whole vocabulary of the continuation's tokens
after the context's own tokens. Continuations that are not a single token (rare tokenizers) take
the harness's general path, one pass per answer.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

MAX_BATCH_TOKENS = 8192  # keeps a batch's activations small on a laptop


@dataclass
class Item:
    key: int                    # position in the caller's list
    context: list[int]          # token ids of the prompt
    continuations: list[list[int]]  # token ids of each answer after the prompt

    @property
    def single(self) -> bool:
        return all(len(c) == 1 for c in self.continuations)


def common_prefix(seqs: list[list[int]]) -> int:
    """Length of the token prefix all sequences share, leaving each at least one own token."""
    if len(seqs) < 2:
        return 0
    first, n = seqs[0], min(len(s) for s in seqs) - 1
    for s in seqs[1:]:
        i = 0
        while i < n and s[i] == first[i]:
            i += 1
        n = i
    return max(n, 0)


def score_items(model, items: list[Item], batch_size: int = 8, pad_id: int = 0,
                on_batch=None, should_stop=None) -> dict[int, list[float]]:
    """Log-probabilities of each item's continuations, keyed by ``Item.key``.

    ``on_batch(n)`` is called after each batch with the number of items it scored;
    ``should_stop()`` is checked between batches and returns early with what was scored.
    """
    import torch

    out: dict[int, list[float]] = {}
    single = [it for it in items if it.single]
    with torch.inference_mode():
        prefix_len = common_prefix([it.context for it in single])
        cache = _prefix_cache(model, single[0].context[:prefix_len]) if prefix_len else None
        if cache is None:
            prefix_len = 0
        for batch in _batches(single, prefix_len, batch_size):
            if should_stop and should_stop():
                return out
            rows = [it.context[prefix_len:] for it in batch]
            logprobs = _last_logprobs(model, rows, cache, prefix_len, pad_id)
            for it, lp in zip(batch, logprobs):
                out[it.key] = [lp[c[0]].item() for c in it.continuations]
            if on_batch:
                on_batch(len(batch))
        for it in items:
            if it.single:
                continue
            if should_stop and should_stop():
                return out
            out[it.key] = _score_general(model, it, pad_id)
            if on_batch:
                on_batch(1)
    return out


def _batches(items: list[Item], prefix_len: int, batch_size: int):
    ordered = sorted(items, key=lambda it: -len(it.context))
    batch: list[Item] = []
    for it in ordered:
        width = len(batch[0].context) - prefix_len if batch else len(it.context) - prefix_len
        if batch and (len(batch) >= batch_size or (len(batch) + 1) * width > MAX_BATCH_TOKENS):
            yield batch
            batch = []
        batch.append(it)
    if batch:
        yield batch


def _prefix_cache(model, prefix: list[int]):
    """Key/value cache of the shared prefix, or None if this model cannot reuse one."""
    import torch

    try:
        result = model(input_ids=torch.tensor([prefix]), use_cache=True, logits_to_keep=1)
    except TypeError:
        result = model(input_ids=torch.tensor([prefix]), use_cache=True)
    return getattr(result, "past_key_values", None)


def _last_logprobs(model, rows: list[list[int]], cache, prefix_len: int, pad_id: int):
    """Log-softmax of the logits after each row's last token, one [vocab] tensor per row."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), prefix_len + width), dtype=torch.long)
    mask[:, :prefix_len] = 1
    for i, r in enumerate(rows):  # right padding keeps real tokens at their true positions
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, prefix_len: prefix_len + len(r)] = 1
    last = [len(r) - 1 for r in rows]
    keep = sorted(set(last))
    kwargs = {"input_ids": ids, "attention_mask": mask}
    if cache is not None:
        batch_cache = copy.deepcopy(cache)  # each forward appends to its cache
        batch_cache.batch_repeat_interleave(len(rows))
        kwargs.update(past_key_values=batch_cache, use_cache=True)
    try:
        logits = model(**kwargs, logits_to_keep=torch.tensor(keep)).logits
        column = [keep.index(p) for p in last]
    except TypeError:  # models without logits_to_keep compute every position
        logits = model(**kwargs).logits
        column = last
    picked = logits[torch.arange(len(rows)), torch.tensor(column)]
    return torch.log_softmax(picked.float(), dim=-1)


def _score_general(model, item: Item, pad_id: int) -> list[float]:
    """Sum of log-probabilities of multi-token continuations, one sequence per answer."""
    import torch

    scores = []
    for cont in item.continuations:
        seq = (item.context + cont)[:-1]
        logits = model(input_ids=torch.tensor([seq])).logits[0].float()
        logprobs = torch.log_softmax(logits[len(item.context) - 1:], dim=-1)
        scores.append(sum(logprobs[i, t].item() for i, t in enumerate(cont)))
    return scores
