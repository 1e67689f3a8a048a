"""What the server serves: the model list, and a request turned into sequences for the batcher.

``ModelRegistry`` names the base model and every finished run trained on it (read afresh on each
call, so a run that finishes while the server is up is listed without a restart). ``ServeService``
renders a request the way the trainer rendered its data (the run's chat template and system
prompt, tools in the template's slot or the studio's fallback), checks it fits the model's
context, binds the run's weights in the chat engine (held until the last choice ends) and hands
one ``Sequence`` per choice to the ``Batcher``. Nothing here knows about HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from studio.engine.chat.targets import Target, finished_runs, resolve_target
from studio.engine.errors import ServeError, StudioError
from studio.engine.models import resolve_model
from studio.engine.runs import is_run_folder
from studio.engine.serve.batcher import Batcher, Event, Sequence
from studio.engine.serve.protocol import Ask


@dataclass(frozen=True)
class ModelEntry:
    name: str
    target: Target
    created: int
    kind: str  # "base", "lora" or "full"


class ModelRegistry:
    """The base model and the finished runs of it, by the names clients ask for."""

    def __init__(self, base: str, runs=None, workspace=None):
        self.base, self.runs, self.workspace = base, runs, workspace
        self.base_name = Path(base).name if Path(base).expanduser().is_dir() else base
        self._source = resolve_model(base)

    def entries(self) -> list[ModelEntry]:
        """The base first, then every finished run of it, newest first."""
        out = [ModelEntry(self.base_name, Target(model_id=self.base), 0, "base")]
        for run in finished_runs(self.runs) if self.runs is not None else []:
            entry = self._run_entry(run)
            if entry is not None:
                out.append(entry)
        return out

    def entry(self, name: str) -> ModelEntry:
        """The model a request names; only that run's folder is read (every request asks)."""
        if name == self.base_name:
            return self.entries()[0]
        found = self._run_entry(self.runs.get(name)) if self._is_run(name) else None
        if found is None:
            names = ", ".join(e.name for e in self.entries())
            raise ServeError("serve_model_not_found", model=name, available=names)
        return found

    def _is_run(self, name: str) -> bool:
        return (self.runs is not None and Path(name).name == name
                and is_run_folder(self.runs.root / name))

    def _run_entry(self, run) -> ModelEntry | None:
        try:
            if resolve_model(run.config().model) != self._source:
                return None  # another base: one server holds one base model's weights
            target = resolve_target(self.base, run.id, self.runs, self.workspace)
        except StudioError:
            return None  # a run whose files went missing is simply not offered
        created = int(run.status().get("ended_at") or run.path.stat().st_mtime)
        return ModelEntry(run.id, target, created, "lora" if target.adapter_dir else "full")


@dataclass
class Job:
    """One request in flight: one sequence per choice."""

    sequences: list[Sequence]
    prompt_tokens: int  # each prompt counted once, however many choices read it

    def cancel(self) -> None:
        for seq in self.sequences:
            seq.cancel()


class ServeService:
    def __init__(self, engine, registry: ModelRegistry, max_batch: int = 32):
        self.engine, self.registry = engine, registry
        self.batcher = Batcher(engine.lock, max_batch=max_batch)

    def close(self) -> None:
        self.batcher.close()

    def submit(self, ask: Ask, emit: Callable[[int, Event], None]) -> Job:
        """Start writing every choice of ``ask``; ``emit(choice_index, event)`` gets its text."""
        entry = self.registry.entry(ask.model)
        tokenizer = self.engine.tokenizer(entry.target)
        prompts = self._prompts(ask, entry.target, tokenizer)
        binding = self.engine.bind(entry.target)
        try:
            limit = self._context(binding)
            sampling = self._fit(ask, max(len(p) for p in prompts), limit)
        except ServeError:
            self.engine.release(binding)
            raise
        stop_ids = self.engine.stop_ids(tokenizer)
        release = _once_all_done(ask.n * len(prompts), lambda: self.engine.release(binding))
        seqs = []
        for p, ids in enumerate(prompts):
            for j in range(ask.n):
                index = p * ask.n + j
                seqs.append(Sequence(
                    ids, replace(sampling, seed=sampling.seed + j), binding, tokenizer, stop_ids,
                    emit=_relay(emit, index, release), stop=ask.stop))
        for seq in seqs:
            self.batcher.submit(seq)
        return Job(seqs, sum(len(ids) for ids in prompts))

    def _prompts(self, ask: Ask, target: Target, tokenizer) -> list[list[int]]:
        if ask.prompts:
            return [tokenizer(p, add_special_tokens=True)["input_ids"] for p in ask.prompts]
        from studio.engine.data.template import render_generation

        messages = ask.messages
        if target.system_prompt and messages[0]["role"] != "system":
            messages = [{"role": "system", "content": target.system_prompt}, *messages]
        try:
            text = render_generation(tokenizer, messages, ask.tools)
        except Exception as exc:  # jinja raises many types; the client needs the reason
            raise ServeError("serve_template", detail=str(exc).splitlines()[0][:300]) from exc
        return [tokenizer(text, add_special_tokens=False)["input_ids"]]

    @staticmethod
    def _context(binding) -> int:
        config = binding.model().config
        return int(getattr(config, "max_position_embeddings", 0) or 2**31)

    @staticmethod
    def _fit(ask: Ask, prompt_len: int, limit: int):
        room = limit - prompt_len
        if room < 1 or (ask.max_tokens_set and ask.sampling.max_new_tokens > room):
            raise ServeError("serve_context_length", limit=limit, prompt=prompt_len,
                             asked=ask.sampling.max_new_tokens)
        return replace(ask.sampling, max_new_tokens=min(ask.sampling.max_new_tokens, room))


def _once_all_done(count: int, then: Callable[[], None]) -> Callable[[], None]:
    left, lock = [count], threading.Lock()

    def one_done() -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            then()

    return one_done


def _relay(emit, index: int, done: Callable[[], None]) -> Callable[[Event], None]:
    def relay(event: Event) -> None:
        emit(index, event)
        if event.finish is not None:
            done()

    return relay
