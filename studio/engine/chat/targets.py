"""What the chat talks to: a base model, and optionally a run's adapter or full weights.

``resolve_target`` turns what a person picked (a model id, a run id or an adapter folder) into a
``Target`` and explains in plain words when the pick cannot work: a run still training, a folder
without ``adapter_config.json``, a path outside the workspace, an adapter whose weights are not
safetensors or whose declared base model lies outside the workspace. It also gathers what the chat
tab offers around a target: finished runs to pick from, example prompts from the run's dataset and
probe prompts, and the notice shown while a training job shares this device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from studio.engine.chat.adapters import check_adapter_weights, in_store
from studio.engine.errors import ChatError, ModelError, PathError
from studio.engine.runs import (
    ACTIVE,
    FINISHED_WITH_WEIGHTS,
    Run,
    RunStore,
    is_run_folder,
    owner_alive,
)
from studio.engine.workspace import Workspace


@dataclass
class Target:
    """A base model and, when a run or adapter was picked, the tuned weights beside it."""

    model_id: str
    adapter_dir: Path | None = None  # a PEFT adapter: tuned = base weights + adapter
    full_dir: Path | None = None  # full fine-tune weights: tuned is a second model
    run_id: str | None = None
    system_prompt: str = ""  # the run's training system prompt, used unless overridden
    dataset: str = ""
    probe_prompts: tuple[str, ...] = ()
    fills: tuple[tuple[str, str], ...] = ()  # {{name}}/{{author}} values used in training

    @property
    def has_tuned(self) -> bool:
        return self.adapter_dir is not None or self.full_dir is not None

    @property
    def tokenizer_dir(self) -> Path | None:
        """The tuned weights' own tokenizer: the chat template exactly as trained with."""
        folder = self.adapter_dir or self.full_dir
        if folder and (folder / "tokenizer_config.json").exists():
            return folder
        return None

    @property
    def label(self) -> str:
        tuned = self.run_id or (self.adapter_dir or self.full_dir or Path("")).name
        return f"{self.model_id} + {tuned}" if self.has_tuned else self.model_id


def resolve_target(model: str | None = None, adapter: str | None = None,
                   runs: RunStore | None = None, workspace: Workspace | None = None) -> Target:
    """The target for a model pick and an adapter pick (a run id or a folder; empty = none)."""
    model = (model or "").strip() or None
    adapter = (adapter or "").strip() or None
    if adapter is None:
        if model is None:
            raise ChatError("chat_no_pick")
        return Target(model_id=model)
    if runs is not None and Path(adapter).name == adapter and is_run_folder(runs.root / adapter):
        return _from_run(runs.get(adapter), model)  # the store's run: its own base is trusted
    folder = _folder(adapter, workspace)  # a path: only inside the workspace
    checks = None if in_store(folder, runs) else workspace  # who vouches for its base model
    if is_run_folder(folder):
        return _from_run(Run(folder), model, checks)
    if (folder / "adapter_config.json").exists():
        _check_weights(folder, adapter)
        base = _adapter_base(folder, adapter, checks, needed=model is None)
        return Target(model_id=model or base, adapter_dir=folder)
    if (folder / "config.json").exists():
        if model is None:
            raise ChatError("chat_full_needs_base", folder=str(folder))
        return Target(model_id=model, full_dir=folder)
    raise ChatError("chat_not_adapter", folder=str(folder))


def _folder(adapter: str, workspace: Workspace | None) -> Path:
    try:
        # must_exist=False: a missing folder gets the message below, not a bare "not found".
        folder = (workspace.resolve(adapter, must_exist=False) if workspace
                  else Path(adapter).expanduser())
    except PathError as exc:
        raise ChatError("chat_adapter_unusable", adapter=adapter, reason=exc.reason) from None
    if not folder.exists():
        raise ChatError("chat_adapter_not_found", adapter=adapter)
    if not folder.is_dir():
        raise ChatError("chat_adapter_is_file", folder=str(folder))
    return folder


def _adapter_base(folder: Path, adapter: str, workspace: Workspace | None,
                  needed: bool) -> str | None:
    """The base model the adapter declares, checked against the workspace even when another
    base was picked: a config pointing outside it is refused, not quietly ignored."""
    try:
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
        base = config.get("base_model_name_or_path")
    except (OSError, ValueError, AttributeError) as exc:
        raise ChatError("chat_adapter_config", folder=str(folder), detail=str(exc)) from None
    if base and workspace is not None:
        base = _allowed_model(base, adapter, workspace)
    if not base and needed:
        raise ChatError("chat_adapter_no_base", folder=str(folder))
    return base or None


def _allowed_model(base: str, adapter: str, workspace: Workspace) -> str:
    try:
        return workspace.model_source(str(base))
    except PathError as exc:
        raise ChatError("adapter_base_outside", adapter=adapter, reason=exc.reason) from None


def _check_weights(folder: Path, shown: str) -> None:
    try:
        check_adapter_weights(folder, shown)
    except ModelError as exc:  # said at pick time, before anything is loaded
        raise ChatError(exc.reasons) from None


def _from_run(run: Run, model: str | None, workspace: Workspace | None = None) -> Target:
    """``workspace`` is given for a run folder from outside the store: its config's base is
    checked like a typed model (the store's own runs were checked when they were created)."""
    state = run.status().get("state")
    if state not in FINISHED_WITH_WEIGHTS:
        raise ChatError("chat_run_state", run=run.id, state=str(state))
    weights = run.weights_dir()
    if weights is None:
        raise ChatError("chat_run_no_weights", run=run.id)
    cfg = run.config()
    is_adapter = (weights / "adapter_config.json").exists()
    if is_adapter:
        _check_weights(weights, run.id)
    base = cfg.model if model or workspace is None else _allowed_model(cfg.model, run.id,
                                                                       workspace)
    return Target(model_id=model or base, adapter_dir=weights if is_adapter else None,
                  full_dir=None if is_adapter else weights, run_id=run.id,
                  system_prompt=cfg.system_prompt, dataset=cfg.dataset,
                  probe_prompts=tuple(cfg.probe_prompts),
                  fills=tuple((k, v) for k, v in (("name", cfg.name), ("author", cfg.author))
                              if v))


def finished_runs(runs: RunStore) -> list[Run]:
    """Runs with weights to chat with (completed or stopped), newest first."""
    return [r for r in runs.list()
            if r.status().get("state") in FINISHED_WITH_WEIGHTS and r.weights_dir() is not None]


def example_prompts(target: Target, workspace: Workspace | None = None,
                    limit: int = 8) -> list[str]:
    """Probe prompts first, then the first user turns of the run's training data."""
    found = [p for p in target.probe_prompts if p.strip()]
    if target.dataset:
        found += _dataset_prompts(target, workspace, limit * 3)
    return list(dict.fromkeys(found))[:limit]


def _dataset_prompts(target: Target, workspace: Workspace | None, limit: int) -> list[str]:
    from studio.engine.data import formats as data

    try:
        source = str(workspace.resolve(target.dataset)) if workspace else target.dataset
        records, _ = data.load_records(source)
    except Exception:  # examples are a convenience; an unreadable dataset just offers none
        return []
    records = data.fill_placeholders(records[:limit], dict(target.fills))
    prompts = []
    for rec in records:
        turns = rec.get("messages") or rec.get("prompt") or []
        first = next((m["content"] for m in turns if m.get("role") == "user"), "")
        if first.strip():
            prompts.append(first.strip())
    return prompts


def active_training(jobs=None, runs: RunStore | None = None) -> str | None:
    """The id of a run training on this device now: this process's job, or another process's
    (``studio train`` in a shell) found through its run folder and live pid."""
    active = jobs.active() if jobs is not None and hasattr(jobs, "active") else None
    if active is not None:
        return active.id
    for run in runs.list() if runs is not None else []:
        status = run.status()
        if status.get("state") in ACTIVE and owner_alive(status):
            return run.id
    return None


def training_notice(jobs=None, runs: RunStore | None = None) -> str | None:
    """A plain sentence when a training run shares this device, else None."""
    run_id = active_training(jobs, runs)
    if run_id is None:
        return None
    return (f"Training run {run_id} is active on this device, so answers come more slowly "
            "until it ends.")


def available_memory() -> int:
    """Bytes free where the chat model lives: the GPU's free memory, or the machine's RAM."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.mem_get_info()[0]
    import psutil

    return psutil.virtual_memory().available


def weights_bytes(model_id: str) -> int:
    """Size of a model's weight files on disk: roughly what loading it will take."""
    from studio.engine.models import resolve_model

    folder = Path(resolve_model(model_id))
    if not folder.is_dir():
        return 0  # a hub id not yet downloaded: unknown until it is
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))
