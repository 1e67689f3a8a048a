"""Export a run as a standalone model folder anyone can load without this studio.

A LoRA run is merged into its base weights (``merge_and_unload``) and saved as plain
safetensors with the tokenizer and chat template, so ``AutoModelForCausalLM.from_pretrained``
loads it directly; a full fine-tune is copied as is. Either way the folder gets the model card as
its ``README.md``, the disk is checked for room first, and the folder is built under
``<target>.tmp`` and renamed when complete. The run folder itself is never changed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from studio.engine.errors import RunStateError
from studio.engine.export.card import model_card
from studio.engine.export.space import check_free_space, merged_size
from studio.engine.io import publish_folder, staging_folder, write_atomic
from studio.engine.runs import Run


def export_run(run: Run, target: str | Path) -> Path:
    """Write ``run``'s final model to ``target`` (which must not exist yet)."""
    target = Path(target)
    if target.exists():
        raise RunStateError("export_exists", path=str(target))
    weights = run.weights_dir()
    if weights is None:
        raise RunStateError("export_no_weights", run=run.id, state=run.status().get("state"))
    need = merged_size(run)
    if need is not None:  # unknown for a hub base not downloaded yet: loading it will say more
        check_free_space(target.parent, need)
    tmp = staging_folder(target)
    try:
        if weights == run.model_dir:
            shutil.copytree(weights, tmp)
        else:
            _merge(run, weights, tmp)
        write_atomic(tmp / "README.md", model_card(run, merged=True))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a disk that filled up anyway gets its space back
        raise
    return publish_folder(tmp, target)


def _merge(run: Run, weights: Path, tmp: Path) -> None:
    from transformers import AutoTokenizer

    from studio.engine.chat.adapters import attach_adapter, check_adapter_weights
    from studio.engine.models import load_model

    check_adapter_weights(weights, run.id)  # before the base is loaded: a bad file says so fast
    cfg = run.config()
    base = load_model(cfg.model, trust_remote_code=cfg.trust_remote_code)
    merged = attach_adapter(base, weights, run.id).merge_and_unload()
    merged.save_pretrained(tmp, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(weights)).save_pretrained(tmp)  # saved with the adapter
