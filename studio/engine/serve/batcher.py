"""Continuous batching: every request in flight shares one forward per token.

A ``Sequence`` is one answer being written (a request with ``n=3`` has three), with its own
sampling settings, seeded generator, stop strings and a callback that receives its text as it
grows. The ``Batcher`` runs one loop thread over *cohorts*: rows of one model decoding together
with a KV cache. New sequences are prefilled together as soon as they arrive and merged into the
running cohort of their model between two tokens (caches left-padded to one length), so a request
never waits for another to finish; a finished row leaves the batch at once. Rows of different
runs on one base model share a cohort and one copy of the weights: each row names its LoRA
adapter (PEFT's per-row ``adapter_names``, the base as ``__base__``). Each forward holds the chat
engine's lock, so the chat tab and the server can share one engine.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from studio.engine.chat.decode import Sampling, left_padded
from studio.engine.chat.engine import Binding
from studio.engine.models import cache_kwarg
from studio.engine.serve.protocol import held_back


@dataclass
class Event:
    """What a sequence tells its request: new text, and at the end why it stopped."""

    delta: str
    finish: str | None = None  # "stop", "length", "cancelled" or "error"
    completion_tokens: int = 0
    error: str = ""


@dataclass
class Sequence:
    """One answer being written."""

    prompt_ids: list[int]
    sampling: Sampling
    binding: Binding
    tokenizer: object
    stop_ids: set[int]
    emit: Callable[[Event], None]
    stop: tuple[str, ...] = ()
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    sent: int = 0  # characters of ``text`` already emitted
    finish: str | None = None
    cancelled: bool = False

    def __post_init__(self):
        self.rng = torch.Generator().manual_seed(self.sampling.seed)
        self.procs = self.sampling.processors()

    def cancel(self) -> None:
        """The client went away: the row leaves the batch at the next token."""
        self.cancelled = True


@dataclass
class _Cohort:
    """Rows of one model decoding together, with their KV cache and next-token logits."""

    key: str
    seqs: list[Sequence]
    cache: object
    mask: torch.Tensor
    positions: torch.Tensor
    logits: torch.Tensor


class Batcher:
    """The loop thread that writes every sequence submitted to it."""

    def __init__(self, lock: threading.Lock, max_batch: int = 32):
        self.lock, self.max_batch = lock, max_batch
        self._pending: queue.Queue[Sequence] = queue.Queue()
        self._cohorts: list[_Cohort] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="serve-batcher", daemon=True)
        self._thread.start()

    def submit(self, seq: Sequence) -> Sequence:
        self._pending.put(seq)
        return seq

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=10)

    @property
    def active(self) -> int:
        return sum(len(c.seqs) for c in self._cohorts) + self._pending.qsize()

    # ------------------------------------------------------------------ the loop
    def _loop(self) -> None:
        with torch.inference_mode():
            while not self._closing.is_set():
                self._admit(wait=not self._cohorts)
                for cohort in list(self._cohorts):
                    try:
                        self._advance(cohort)
                    except Exception as exc:  # a bad batch fails its requests, not the server
                        self._fail(cohort, exc)
        for cohort in self._cohorts:
            self._finish_all(cohort.seqs, "cancelled")
        while not self._pending.empty():  # submitted while closing: told, not left hanging
            self._finish_all([self._pending.get_nowait()], "cancelled")

    def _admit(self, wait: bool) -> None:
        room = self.max_batch - sum(len(c.seqs) for c in self._cohorts)
        new = []
        try:
            while len(new) < room:
                first = wait and not new
                new.append(self._pending.get(timeout=0.1) if first else self._pending.get_nowait())
        except queue.Empty:
            pass
        by_key: dict[str, list[Sequence]] = {}
        for seq in new:
            by_key.setdefault(seq.binding.key, []).append(seq)
        for key, seqs in by_key.items():
            try:
                cohort = self._prefill(key, seqs)
                into = next((c for c in self._cohorts if c.key == key), None)
                if into is None or not _merge(into, cohort):
                    self._cohorts.append(cohort)
            except Exception as exc:  # e.g. out of memory: these requests fail, the rest go on
                self._finish_all(seqs, "error", f"{type(exc).__name__}: {exc}")

    def _advance(self, cohort: _Cohort) -> None:
        """Pick every row's next token, drop finished rows, run one forward for the rest."""
        self._pick(cohort)
        live = [i for i, s in enumerate(cohort.seqs) if not s.finish]
        if not live:
            self._cohorts.remove(cohort)
            return
        if len(live) < len(cohort.seqs):
            _select(cohort, live)
        tokens = torch.tensor([[s.tokens[-1]] for s in cohort.seqs], device=cohort.mask.device)
        cohort.mask = torch.cat([cohort.mask, torch.ones_like(tokens)], dim=-1)
        cohort.positions = cohort.positions + 1
        cohort.logits = self._forward(cohort.seqs, input_ids=tokens, attention_mask=cohort.mask,
                                      position_ids=cohort.positions, cache=cohort.cache)

    def _prefill(self, key: str, seqs: list[Sequence]) -> _Cohort:
        from transformers import DynamicCache

        model = seqs[0].binding.model()
        ids, mask, positions = left_padded([s.prompt_ids for s in seqs], model.device)
        cache = DynamicCache(config=model.config)
        logits = self._forward(seqs, input_ids=ids, attention_mask=mask, position_ids=positions,
                               cache=cache)
        return _Cohort(key, seqs, cache, mask, positions[:, -1:], logits)

    def _forward(self, seqs: list[Sequence], cache, **inputs) -> torch.Tensor:
        binding = seqs[0].binding
        with self.lock:
            binding.prepare()
            model = binding.model()
            inputs[cache_kwarg(model)] = cache
            if hasattr(model, "peft_config"):
                inputs["adapter_names"] = [s.binding.adapter for s in seqs]
            out = model(**inputs, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1, :].float()

    # ------------------------------------------------------------------ tokens and text
    def _pick(self, cohort: _Cohort) -> None:
        greedy = cohort.logits.argmax(-1).tolist()
        for i, seq in enumerate(cohort.seqs):
            if seq.cancelled:
                self._finish(seq, "cancelled")
            elif not seq.finish:
                token = greedy[i] if seq.sampling.greedy and not seq.procs else \
                    _sample(seq, cohort.logits[i : i + 1])
                self._extend(seq, token)

    def _extend(self, seq: Sequence, token: int) -> None:
        if token in seq.stop_ids:
            return self._finish(seq, "stop")
        seq.tokens.append(token)
        text = seq.tokenizer.decode(seq.tokens, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
            return self._maybe_length(seq)
        seq.text = text
        cut = _first_stop(text, seq.stop, max(0, seq.sent - max(map(len, seq.stop), default=0)))
        if cut is not None:
            seq.text = text[:cut]
            return self._finish(seq, "stop")
        safe = len(text) - held_back(text, seq.stop)
        if safe > seq.sent:
            seq.emit(Event(text[seq.sent:safe]))
            seq.sent = safe
        self._maybe_length(seq)

    def _maybe_length(self, seq: Sequence) -> None:
        if len(seq.tokens) >= seq.sampling.max_new_tokens:
            self._finish(seq, "length")

    def _finish(self, seq: Sequence, reason: str, error: str = "") -> None:
        seq.finish = reason
        seq.emit(Event(seq.text[seq.sent:], reason, len(seq.tokens), error))
        seq.sent = len(seq.text)

    def _finish_all(self, seqs: list[Sequence], reason: str, error: str = "") -> None:
        for seq in seqs:
            if not seq.finish:
                self._finish(seq, reason, error)

    def _fail(self, cohort: _Cohort, exc: Exception) -> None:
        self._finish_all(cohort.seqs, "error", f"{type(exc).__name__}: {exc}")
        if cohort in self._cohorts:
            self._cohorts.remove(cohort)


def _sample(seq: Sequence, logits: torch.Tensor) -> int:
    history = torch.tensor([seq.prompt_ids + seq.tokens], device=logits.device)
    scores = seq.procs(history, logits)
    if seq.sampling.greedy:
        return int(scores.argmax(-1))
    probs = torch.softmax(scores, dim=-1).cpu()
    return int(torch.multinomial(probs, 1, generator=seq.rng))


def _first_stop(text: str, stops: tuple[str, ...], start: int) -> int | None:
    hits = [i for i in (text.find(s, start) for s in stops if s) if i >= 0]
    return min(hits) if hits else None


# ---------------------------------------------------------------------- batch surgery
def _mergeable(cache) -> bool:
    from transformers.cache_utils import DynamicLayer

    return all(type(layer) is DynamicLayer for layer in getattr(cache, "layers", [None]))


def _merge(into: _Cohort, new: _Cohort) -> bool:
    """Append ``new``'s rows to ``into`` (both left-padded to one cache length)."""
    if not (_mergeable(into.cache) and _mergeable(new.cache)):
        return False  # sliding-window and other caches keep their own cohort
    width = max(into.mask.shape[-1], new.mask.shape[-1])
    for mine, theirs in zip(into.cache.layers, new.cache.layers, strict=True):
        mine.keys = torch.cat([_pad_kv(mine.keys, width), _pad_kv(theirs.keys, width)])
        mine.values = torch.cat([_pad_kv(mine.values, width), _pad_kv(theirs.values, width)])
    into.mask = torch.cat([_pad_mask(into.mask, width), _pad_mask(new.mask, width)])
    into.positions = torch.cat([into.positions, new.positions])
    into.logits = torch.cat([into.logits, new.logits])
    into.seqs = into.seqs + new.seqs
    return True


def _select(cohort: _Cohort, rows: list[int]) -> None:
    """Keep only ``rows``, and drop cache columns that are padding for every row left."""
    index = torch.tensor(rows, device=cohort.mask.device)
    cohort.cache.batch_select_indices(index)
    cohort.mask, cohort.positions = cohort.mask[index], cohort.positions[index]
    cohort.logits = cohort.logits[index]
    cohort.seqs = [cohort.seqs[i] for i in rows]
    first = int(cohort.mask.any(0).nonzero()[0])
    if first and _mergeable(cohort.cache):
        cohort.mask = cohort.mask[:, first:]
        for layer in cohort.cache.layers:
            layer.keys, layer.values = layer.keys[..., first:, :], layer.values[..., first:, :]


def _pad_kv(t: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(t, (0, 0, width - t.shape[-2], 0))


def _pad_mask(mask: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(mask, (width - mask.shape[-1], 0))
