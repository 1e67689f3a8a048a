"""The chat's decode loop: several answers written token by token, each with its own sampler.

An answer in progress is a ``Lane`` (its prompt, its tokens, its own seeded random generator).
Lanes that share one model step together in a ``Group``: one batched forward per token, with a
KV cache per group and PEFT's per-row ``adapter_names`` so the base answer (adapter off) and the
tuned answer (adapter on) come from a single copy of the weights in the same forward pass.
Sampling is done per lane on that lane's own tokens with its own ``torch.Generator``, so the
same seed gives the same answer whether it is written alone or beside another. The loop yields
after every token, checks a stop event each step and holds the model lock only for one forward,
so two browser tabs can share the model without either blocking the other for a whole answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from studio.engine.errors import Reason
from studio.engine.models import cache_kwarg


@dataclass
class Sampling:
    """The knobs both panes share; temperature 0 means greedy decoding."""

    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.1
    seed: int = 0

    def problems(self) -> list[Reason]:
        """One coded reason per setting out of range (empty when all can be used)."""
        checks = (
            ("sampling_max_new_tokens", self.max_new_tokens, 1 <= self.max_new_tokens <= 8192),
            ("sampling_temperature", self.temperature, 0 <= self.temperature <= 5),
            ("sampling_top_p", self.top_p, 0 < self.top_p <= 1),
            ("sampling_top_k", self.top_k, self.top_k >= 0),
            ("sampling_repetition_penalty", self.repetition_penalty,
             0 < self.repetition_penalty <= 10),
            ("sampling_seed", self.seed, self.seed >= 0),
        )
        return [Reason(code, {"got": got}) for code, got, ok in checks if not ok]

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def processors(self):
        """The same logits processors ``model.generate`` would build for these settings."""
        from transformers import (
            LogitsProcessorList,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        procs = LogitsProcessorList()
        if self.repetition_penalty != 1.0:
            procs.append(RepetitionPenaltyLogitsProcessor(self.repetition_penalty))
        if not self.greedy:
            if self.temperature != 1.0:
                procs.append(TemperatureLogitsWarper(self.temperature))
            if self.top_k:
                procs.append(TopKLogitsWarper(self.top_k))
            if self.top_p < 1.0:
                procs.append(TopPLogitsWarper(self.top_p))
        return procs


@dataclass
class Lane:
    """One answer being written."""

    key: str  # "base" or "tuned"
    prompt_ids: list[int]
    seed: int
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    finish: str | None = None  # None while writing; then "eos", "length" or "stopped"
    first_token_s: float | None = None
    last_token_s: float | None = None

    def __post_init__(self):
        self.rng = torch.Generator().manual_seed(self.seed)


@dataclass
class Group:
    """Lanes stepped together on one model; ``prepare`` sets its adapter state under the lock."""

    model: object
    lanes: list[Lane]
    adapter_names: list[str] | None = None  # per lane, PEFT mixed batch; None = as prepared
    prepare: Callable[[], None] = lambda: None


@dataclass
class Update:
    """What the panes show after one step: every lane's text so far, and timings."""

    texts: dict[str, str]
    finish: dict[str, str | None]
    stats: dict[str, dict]  # per lane: ttft_s, tokens, tokens_per_s

    @property
    def done(self) -> bool:
        return all(self.finish.values())


def decode(groups: list[Group], tokenizer, sampling: Sampling, stop_ids: set[int],
           lock: threading.Lock, stop: threading.Event | None = None,
           started: float | None = None) -> Iterator[Update]:
    """Write every lane's answer, yielding an ``Update`` after each token."""
    started = started or time.perf_counter()
    procs = sampling.processors()
    lanes = [lane for g in groups for lane in g.lanes]
    with torch.inference_mode():
        states = [_prefill(g, lock) for g in groups]
        for step in range(sampling.max_new_tokens):
            if stop is not None and stop.is_set():
                for lane in lanes:
                    lane.finish = lane.finish or "stopped"
                yield _update(lanes, started)
                return
            for group, state in zip(groups, states, strict=True):
                _pick(group, state, procs, sampling, tokenizer, stop_ids)
            if step + 1 == sampling.max_new_tokens:
                for lane in lanes:
                    lane.finish = lane.finish or "length"
            yield _update(lanes, started)
            if all(lane.finish for lane in lanes):
                return
            for group, state in zip(groups, states, strict=True):
                _step(group, state, lock)


@dataclass
class _State:
    cache: object
    mask: torch.Tensor  # attention mask over everything cached so far, left-padded rows
    positions: torch.Tensor  # the position of each row's last token
    logits: torch.Tensor  # next-token logits, one row per lane
    rows: list[int]  # which lanes of the group are still in the batch


def _forward(group: Group, lock: threading.Lock, rows: list[int], cache, **inputs):
    kwargs = {cache_kwarg(group.model): cache}
    if group.adapter_names is not None:
        kwargs["adapter_names"] = [group.adapter_names[r] for r in rows]
    with lock:
        group.prepare()
        out = group.model(**inputs, use_cache=True, logits_to_keep=1, **kwargs)
    return out.logits[:, -1, :].float()


def left_padded(prompts: list[list[int]], device) -> tuple[torch.Tensor, ...]:
    """Prompts as one batch: ids, attention mask and position ids, padded on the left.

    Left padding keeps every row's last token in the last column, so one forward gives each
    row's next-token logits in the same place; the padding is masked out, so any id works.
    """
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions


def _prefill(group: Group, lock: threading.Lock) -> _State:
    from transformers import DynamicCache

    ids_t, mask_t, positions = left_padded([lane.prompt_ids for lane in group.lanes],
                                           group.model.device)
    cache = DynamicCache(config=group.model.config)
    rows = list(range(len(group.lanes)))
    logits = _forward(group, lock, rows, input_ids=ids_t, attention_mask=mask_t,
                      position_ids=positions, cache=cache)
    return _State(cache, mask_t, positions[:, -1:], logits, rows)


def _pick(group: Group, state: _State, procs, sampling: Sampling, tokenizer,
          stop_ids: set[int]) -> None:
    """Choose each live lane's next token from its row of logits and extend its text."""
    now = time.perf_counter()
    for i, r in enumerate(state.rows):
        lane = group.lanes[r]
        if lane.finish:
            continue
        history = torch.tensor([lane.prompt_ids + lane.tokens], device=state.logits.device)
        scores = procs(history, state.logits[i : i + 1])
        if sampling.greedy:
            token = int(scores.argmax(-1))
        else:
            probs = torch.softmax(scores, dim=-1).cpu()
            token = int(torch.multinomial(probs, 1, generator=lane.rng))
        lane.first_token_s = lane.first_token_s or now
        lane.last_token_s = now
        if token in stop_ids:
            lane.finish = "eos"
            continue
        lane.tokens.append(token)
        text = tokenizer.decode(lane.tokens, skip_special_tokens=True)
        if not text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
            lane.text = text


def _step(group: Group, state: _State, lock: threading.Lock) -> None:
    """One forward for the lanes still writing; finished rows leave the batch and its cache."""
    live = [i for i, r in enumerate(state.rows) if not group.lanes[r].finish]
    if not live:
        return
    if len(live) < len(state.rows):
        index = torch.tensor(live, device=state.mask.device)
        state.cache.batch_select_indices(index)
        state.mask, state.positions = state.mask[index], state.positions[index]
        state.rows = [state.rows[i] for i in live]
    tokens = torch.tensor([[group.lanes[r].tokens[-1]] for r in state.rows],
                          device=state.mask.device)
    state.mask = torch.cat([state.mask, torch.ones_like(tokens)], dim=-1)
    state.positions = state.positions + 1
    state.logits = _forward(group, lock, state.rows, input_ids=tokens, attention_mask=state.mask,
                            position_ids=state.positions, cache=state.cache)


def _update(lanes: list[Lane], started: float) -> Update:
    return Update(texts={lane.key: lane.text for lane in lanes},
                  finish={lane.key: lane.finish for lane in lanes},
                  stats={lane.key: lane_stats(lane, started) for lane in lanes})


def lane_stats(lane: Lane, started: float) -> dict:
    """Time to first token and decode speed of one finished lane."""
    ttft = (lane.first_token_s - started) if lane.first_token_s else None
    span = (lane.last_token_s or 0) - (lane.first_token_s or 0)
    n = len(lane.tokens) + (1 if lane.finish == "eos" else 0)
    speed = (n - 1) / span if n > 1 and span > 0 else None
    return {"ttft_s": ttft, "tokens": len(lane.tokens), "tokens_per_s": speed}
