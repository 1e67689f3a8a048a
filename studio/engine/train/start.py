"""Where a run starts: the model itself, or (``start_from``) a finished run's LoRA adapter.

A preference or GRPO run usually follows a supervised one. ``start_adapter`` finds the adapter
of the run named in ``start_from`` (by id, in the same run store: never a path from a page),
and refuses one that is not finished, saved no adapter, or was trained on another base model,
before anything is loaded. The trainer then keeps training that same adapter, and with DPO, KTO
and GRPO TRL keeps a frozen copy of it as the reference: the new run is held near the run it
started from, not near the bare model.
"""

from __future__ import annotations

from pathlib import Path

from studio.engine.errors import ConfigError
from studio.engine.runs import FINISHED_WITH_WEIGHTS, RunStore
from studio.engine.train.config import TrainConfig


def start_adapter(cfg: TrainConfig, store: RunStore) -> Path | None:
    """The adapter folder a run continues, or None when it starts from the model."""
    name = cfg.start_from.strip()
    if not name:
        return None
    source = store.get(name)
    state = source.status().get("state")
    adapter = source.adapter_dir
    if state not in FINISHED_WITH_WEIGHTS or not (adapter / "adapter_config.json").exists():
        raise ConfigError("start_from_no_adapter", field="start_from", run=name,
                          state=state or "?")
    base = source.config().model
    if base != cfg.model:
        raise ConfigError("start_from_other_model", field="start_from", run=name, base=base,
                          model=cfg.model)
    return adapter
