"""Export a run as a standalone model folder anyone can load without this studio.

A LoRA run is merged into its base weights (``merge_and_unload``) and saved as plain
safetensors with the tokenizer and chat template, so ``AutoModelForCausalLM.from_pretrained``
loads it directly; a full fine-tune is copied as is. The run folder itself is never changed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from studio.engine.errors import RunStateError
from studio.engine.io import publish_folder, staging_folder
from studio.engine.runs import Run


def export_run(run: Run, target: str | Path) -> Path:
    """Write ``run``'s final model to ``target`` (which must not exist yet)."""
    target = Path(target)
    if target.exists():
        raise RunStateError("export_exists", path=str(target))
    weights = run.weights_dir()
    if weights is None:
        raise RunStateError("export_no_weights", run=run.id, state=run.status().get("state"))
    if weights == run.model_dir:
        shutil.copytree(weights, target)
        return target
    from peft import PeftModel
    from transformers import AutoTokenizer

    from studio.engine.models import load_model

    cfg = run.config()
    base = load_model(cfg.model, trust_remote_code=cfg.trust_remote_code)
    merged = PeftModel.from_pretrained(base, str(weights)).merge_and_unload()
    tmp = staging_folder(target)
    merged.save_pretrained(tmp, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(weights)).save_pretrained(tmp)  # saved with the adapter
    return publish_folder(tmp, target)
