"""Chat with a base model and its fine-tuned version, streamed token by token.

``ChatEngine`` keeps one copy of the base weights in memory. A run's LoRA adapter is loaded onto
it with PEFT, so the tuned answer is the model with the adapter on and the base answer the same
model with it off; switching runs loads only the new adapter (a few are kept, least recently
used dropped). Side by side, both answers come out of one batched forward per token (PEFT's
per-row ``adapter_names``), each with its own sampler seeded alike, so the panes differ only by
what fine-tuning changed. Prompts are rendered with the chat template saved beside the tuned
weights, exactly as the trainer rendered them (``studio.engine.data.template``), the run's system
prompt included; a conversation longer than the model's context is refused by name, and the answer
is capped to the room left. Nothing here imports Gradio; the chat tab and ``studio chat`` both
call it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from studio.engine.chat.adapters import attach_adapter
from studio.engine.chat.decode import Group, Lane, Sampling, Update, decode
from studio.engine.chat.targets import Target, resolve_target
from studio.engine.errors import ChatError, ModelError
from studio.engine.models import load_model, load_tokenizer, resolve_model, torch_dtype

SIDES = ("base", "tuned")
BASE_ONLY = "__base__"  # PEFT's adapter name for "no adapter" in a mixed batch


def render_prompt(tokenizer, messages: list[dict], system: str = "") -> list[int]:
    """Token ids of the conversation plus the assistant's opening, as the trainer renders it."""
    messages = [{"role": m["role"], "content": m["content"]} for m in messages]
    if system and not (messages and messages[0]["role"] == "system"):
        messages.insert(0, {"role": "system", "content": system})
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=True)
    except Exception as exc:  # jinja and template errors come in many types
        raise ChatError("chat_template_render", detail=str(exc)) from exc
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@dataclass
class Binding:
    """Where one server request's rows run (``studio.engine.serve``), held until released.

    Rows with the same ``key`` can share a forward: every run of one base model (each row names
    its adapter, ``BASE_ONLY`` for the base) or one full fine-tune's weights. ``model()`` is read
    at every forward because loading a first adapter wraps the base in a ``PeftModel``.
    """

    key: str
    model: Callable[[], object]
    adapter: str | None  # the PEFT adapter of these rows; None on full weights
    prepare: Callable[[], None]


class ChatEngine:
    """One base model in memory, adapters loaded onto it on demand, answers streamed."""

    def __init__(self, runs=None, workspace=None, dtype: str = "auto", device: str | None = None,
                 max_adapters: int = 4):
        self.runs, self.workspace = runs, workspace
        self.dtype = torch_dtype(dtype)  # auto: bf16 where native (decode runs ~2x faster)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.max_adapters = max_adapters
        self._lock = threading.Lock()  # one forward at a time on the shared weights
        self._load_lock = threading.RLock()  # loading and unloading, never mid-forward
        self._source: str | None = None
        self._model = None  # the base model, wrapped as a PeftModel once an adapter is loaded
        self._adapters: OrderedDict[str, str] = OrderedDict()  # adapter key -> PEFT name
        self._in_use: dict[str, int] = {}
        self._mode: str | None = None  # adapter state of the weights: "off", "mixed" or a name
        self._full: tuple[str, object] | None = None
        self._tokenizers: dict[str, object] = {}
        self._counter = 0

    # ------------------------------------------------------------------ public
    def target(self, model: str | None = None, adapter: str | None = None) -> Target:
        return resolve_target(model, adapter, self.runs, self.workspace)

    def stream(self, messages: list[dict] | Mapping[str, list[dict]], *,
               model: str | None = None, adapter: str | None = None,
               sides: tuple[str, ...] = ("tuned",), sampling: Sampling | None = None,
               system: str | None = None, stop: threading.Event | None = None,
               target: Target | None = None) -> Iterator[Update]:
        """Stream the answers of ``sides`` ("base", "tuned") to ``messages``.

        ``messages`` is one conversation for every side, or a mapping side -> conversation when
        each pane keeps its own history. ``system`` overrides the run's system prompt ("" for
        none). Each ``Update`` carries every side's text so far.
        """
        started = time.perf_counter()
        sampling = sampling or Sampling()
        target = target or self.target(model, adapter)
        sides = self._check(sides, sampling, target)
        convs = {s: list(messages[s] if isinstance(messages, Mapping) else messages)
                 for s in sides}
        for side, conv in convs.items():
            if not conv or conv[-1].get("role") != "user":
                raise ChatError("chat_conversation_end", side=side)
        tokenizer = self.tokenizer(target)
        system = target.system_prompt if system is None else system
        ids = _render_each(tokenizer, convs, system)
        with self._load_lock:
            groups, adapter_name = self._groups(target, sides, ids, sampling.seed)
            self._in_use[adapter_name] = self._in_use.get(adapter_name, 0) + 1
        try:
            sampling = fit_context(groups, sampling)
            yield from decode(groups, tokenizer, sampling, self.stop_ids(tokenizer), self._lock,
                              stop, started)
        finally:
            with self._load_lock:  # the table may have been reset by a base-model switch
                self._in_use[adapter_name] = max(0, self._in_use.get(adapter_name, 0) - 1)

    def reply(self, messages, **kwargs) -> Update:
        """The finished answers (the last update of ``stream``)."""
        return deque(self.stream(messages, **kwargs), maxlen=1)[0]

    def bind(self, target: Target) -> Binding:
        """Load what ``target`` needs and hold it (never evicted) until ``release``."""
        with self._load_lock:
            self._base(target.model_id)
            if target.full_dir:
                model = self._full_model(target.full_dir)
                return Binding(f"full:{target.full_dir.resolve()}", lambda: model, None,
                               lambda: None)
            name = self._adapter(target.adapter_dir) if target.adapter_dir else BASE_ONLY
            self._in_use[name] = self._in_use.get(name, 0) + 1
            return Binding(f"base:{self._source}", lambda: self._model, name,
                           lambda: self._set_mode("mixed"))

    def release(self, binding: Binding) -> None:
        with self._load_lock:
            if binding.adapter in self._in_use:
                self._in_use[binding.adapter] = max(0, self._in_use[binding.adapter] - 1)

    @property
    def lock(self) -> threading.Lock:
        """Held for each forward on the shared weights (the chat's and the server's)."""
        return self._lock

    def tokenizer(self, target: Target):
        """The tuned weights' own tokenizer when saved with them, else the base model's."""
        key = str(target.tokenizer_dir or target.model_id)
        if key not in self._tokenizers:
            if target.tokenizer_dir:
                tok = _saved_tokenizer(target)
            else:
                tok = load_tokenizer(target.model_id)
            if not tok.chat_template:
                raise ChatError("chat_no_template", model=target.model_id)
            self._tokenizers[key] = tok
        return self._tokenizers[key]

    def missing_bytes(self, target: Target) -> int:
        """Roughly how much memory answering for ``target`` still has to load (0 if loaded)."""
        from studio.engine.chat.targets import weights_bytes

        need = 0
        if resolve_model(target.model_id) != self._source:
            need += weights_bytes(target.model_id)
        if target.full_dir and (not self._full or self._full[0] != str(target.full_dir.resolve())):
            need += weights_bytes(str(target.full_dir))
        return need

    def loaded(self) -> dict:
        """What is in memory now: the base source, adapters, whether full weights are."""
        return {"base": self._source, "adapters": list(self._adapters),
                "full": self._full[0] if self._full else None}

    # ------------------------------------------------------------------ loading
    def _check(self, sides, sampling: Sampling, target: Target) -> tuple[str, ...]:
        sides = tuple(dict.fromkeys(sides))
        if not sides or any(s not in SIDES for s in sides):
            raise ChatError("chat_sides", allowed=", ".join(SIDES), got=str(sides))
        if "tuned" in sides and not target.has_tuned:
            raise ChatError("chat_no_tuned")
        problems = sampling.problems()
        if problems:
            raise ChatError(problems)
        return sides

    def _base(self, model_id: str):
        source = resolve_model(model_id)
        if self._source != source:
            with self._lock:
                self._model, self._source, self._mode = None, None, None
                self._adapters.clear()
                self._in_use.clear()
                model = load_model(model_id, dtype=self.dtype).to(self.device).eval()
                self._model, self._source = model, source
        return self._model

    def _adapter(self, folder: Path) -> str:
        weights = [p for p in folder.glob("adapter_model.*")]
        stamp = max((p.stat().st_mtime_ns for p in weights), default=0)
        key = f"{folder.resolve()}@{stamp}"  # a retrained folder is a new adapter
        if key in self._adapters:
            self._adapters.move_to_end(key)
            return self._adapters[key]
        self._counter += 1
        name = f"adapter{self._counter}"
        with self._lock:
            try:
                self._load_adapter(folder, name)
            except ModelError as exc:  # refused before PEFT touched the weights: base still clean
                raise ChatError(exc.reasons) from None
            except Exception as exc:
                base = self._source
                # A half-injected adapter would poison the base weights: start clean next time.
                self._model, self._source, self._mode = None, None, None
                self._adapters.clear()
                raise ChatError("chat_adapter_mismatch", folder=str(folder), base=str(base),
                                detail=_first_line(exc)) from exc
            self._mode = None
            self._adapters[key] = name
            self._evict()
        return name

    def _load_adapter(self, folder: Path, name: str) -> None:
        # The adapter takes the base's dtype: PEFT's default upcasts it to fp32, which makes
        # every bf16 LoRA matmul cast back and forth.
        self._model = attach_adapter(self._model, folder, adapter_name=name,
                                     is_trainable=False, autocast_adapter_dtype=False)
        self._model.eval()

    def _evict(self) -> None:
        while len(self._adapters) > self.max_adapters:
            key = next((k for k, n in self._adapters.items() if not self._in_use.get(n)), None)
            if key is None:
                return
            self._model.delete_adapter(self._adapters.pop(key))

    def _full_model(self, folder: Path):
        key = str(folder.resolve())
        if not self._full or self._full[0] != key:
            self._full = None  # free the previous full model before loading the next
            try:
                model = load_model(str(folder), dtype=self.dtype).to(self.device).eval()
            except ModelError as exc:  # the model's own reasons, as a chat error
                raise ChatError(exc.reasons) from exc
            self._full = (key, model)
        return self._full[1]

    def _set_mode(self, mode: str) -> None:
        """Adapter state for the next forward; called under the forward lock, cheap if same."""
        if self._mode == mode or not hasattr(self._model, "peft_config"):
            return
        tuner = self._model.base_model
        if mode == "off":
            tuner.disable_adapter_layers()
        else:
            tuner.enable_adapter_layers()
            if mode != "mixed":
                self._model.set_adapter(mode)
        self._mode = mode

    def _groups(self, target: Target, sides, ids: dict, seed: int) -> tuple[list[Group], str]:
        base = self._base(target.model_id)
        lanes = {s: Lane(s, ids[s], seed) for s in sides}
        name = self._adapter(target.adapter_dir) if target.adapter_dir else ""
        model = self._model  # wrapped by PEFT once an adapter is loaded
        if "tuned" in lanes and target.full_dir:
            tuned = Group(self._full_model(target.full_dir), [lanes["tuned"]])
            if "base" not in lanes:
                return [tuned], name
            return [Group(base, [lanes["base"]], prepare=lambda: self._set_mode("off")),
                    tuned], name
        if len(lanes) == 2:
            names = [BASE_ONLY if s == "base" else name for s in lanes]
            return [Group(model, list(lanes.values()), adapter_names=names,
                          prepare=lambda: self._set_mode("mixed"))], name
        mode = name if "tuned" in lanes else "off"
        return [Group(model, list(lanes.values()), prepare=lambda: self._set_mode(mode))], name

    def stop_ids(self, tokenizer) -> set[int]:
        """Token ids that end an answer: the tokenizer's and the loaded models' eos."""
        ids = {tokenizer.eos_token_id}
        for model in (self._model, self._full[1] if self._full else None):
            eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
            ids.update(eos if isinstance(eos, list) else [eos])
        return {i for i in ids if i is not None}


def _render_each(tokenizer, convs: dict[str, list[dict]], system: str) -> dict[str, list[int]]:
    """Each side's prompt ids; sides asking the same conversation share one rendering (a long
    first message is tokenized once, not once per pane)."""
    done: dict[str, list[int]] = {}
    ids = {}
    for side, conv in convs.items():
        key = repr([(m["role"], m["content"]) for m in conv])
        if key not in done:
            done[key] = render_prompt(tokenizer, conv, system)
        ids[side] = done[key]
    return ids


def context_length(model) -> int | None:
    """How many tokens ``model`` reads at most (prompt and answer), from its config."""
    config = getattr(model, "config", None)
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def fit_context(groups: list[Group], sampling: Sampling) -> Sampling:
    """``sampling`` with the answer capped to the room every prompt leaves in its model; a
    prompt with no room left is refused, naming both numbers."""
    room = sampling.max_new_tokens
    for group in groups:
        limit = context_length(group.model)
        if limit is None:
            continue
        longest = max(len(lane.prompt_ids) for lane in group.lanes)
        if longest >= limit:
            raise ChatError("chat_prompt_too_long", tokens=longest, limit=limit)
        room = min(room, limit - longest)
    return sampling if room == sampling.max_new_tokens else replace(sampling,
                                                                    max_new_tokens=room)


def _saved_tokenizer(target: Target):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(target.tokenizer_dir))
    except Exception as exc:  # a damaged tokenizer file raises json, OS or tokenizers errors
        raise ChatError("chat_tokenizer_unreadable", tuned=target.label,
                        detail=_first_line(exc)) from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
