"""Adapter folders, checked before PEFT loads them: safetensors weights, and a base model allowed.

Every LoRA adapter the studio loads (chat, the API server, scoring, a merged export) goes through
``attach_adapter``, which refuses an adapter whose weights are missing, unreadable or only a
pickle file (``adapter_model.bin``: PEFT would unpickle it) before PEFT reads a byte. An adapter
folder a person picked in a page also names its base model (``base_model_name_or_path`` in
``adapter_config.json``); ``allowed_base`` lets that base be loaded only where the workspace
allows a typed model (the bundled model, a hub id, a folder inside the allowed roots), so a
hand-edited config cannot point the server at any folder on its disk.
"""

from __future__ import annotations

import json
from pathlib import Path

from studio.engine.errors import ModelError, PathError

WEIGHTS = "adapter_model.safetensors"
PICKLED = "adapter_model.bin"


def check_adapter_weights(folder: str | Path, shown: str | None = None) -> None:
    """Refuse an adapter folder without readable safetensors weights, naming what is wrong."""
    folder = Path(folder)
    shown = shown or folder.name
    weights = folder / WEIGHTS
    if not weights.is_file():
        if (folder / PICKLED).is_file():
            raise ModelError("adapter_pickle_weights", adapter=shown, file=PICKLED)
        raise ModelError("adapter_no_weights", adapter=shown)
    from safetensors import safe_open

    try:  # the header only: a truncated or foreign file fails here, not deep inside PEFT
        with safe_open(str(weights), framework="pt") as handle:
            handle.keys()
    except Exception as exc:  # safetensors raises its own error types and OSError
        raise ModelError("adapter_weights_unreadable", adapter=shown,
                         detail=_first_line(exc)) from None


def attach_adapter(model, folder: str | Path, shown: str | None = None, **kwargs):
    """``model`` with the adapter in ``folder`` on it: a new ``PeftModel``, or one more adapter
    on a model that already is one (``kwargs`` go to PEFT, e.g. ``adapter_name``)."""
    from peft import PeftModel

    check_adapter_weights(folder, shown)
    if isinstance(model, PeftModel):
        model.load_adapter(str(folder), **kwargs)
        return model
    return PeftModel.from_pretrained(model, str(folder), **kwargs)


def declared_base(folder: str | Path) -> str | None:
    """``base_model_name_or_path`` of the adapter in ``folder`` (None if unset or unreadable:
    the loaders report an unreadable config in their own words)."""
    try:
        config = json.loads((Path(folder) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    return base.strip() if isinstance(base, str) and base.strip() else None


def allowed_base(folder: str | Path, workspace, shown: str) -> str | None:
    """The adapter's base model as ``workspace`` lets a page load it (None when it names none);
    PathError when it points outside the allowed roots."""
    base = declared_base(folder)
    if base is None:
        return None
    try:
        return workspace.model_source(base)
    except PathError as exc:
        raise PathError("adapter_base_outside", adapter=shown, reason=exc.reason) from None


def in_store(folder: str | Path, runs) -> bool:
    """Whether ``folder`` is a run of ``runs`` (a RunStore) or that run's weights folder: the
    store's runs were checked when they were made, so their declared base is trusted."""
    if runs is None:
        return False
    from studio.engine.runs import run_of

    run = run_of(folder)
    return run is not None and run.path.resolve().parent == Path(runs.root).resolve()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
