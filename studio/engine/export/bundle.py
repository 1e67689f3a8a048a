"""A LoRA run's adapter as one zip file: small to download and share, loadable with PEFT.

The zip holds the run's ``adapter/`` folder (``adapter_config.json``, the adapter weights, the
tokenizer files and the chat template) under one top folder named after the zip, with the
studio's model card as its ``README.md`` in place of the generic one PEFT writes. It is written
to a temporary file beside the target and renamed when complete, so a download never sees half a
zip; an existing file is never replaced. A full fine-tune trained every weight and has no adapter:
it is exported as a model folder instead (``studio.engine.export.merge``).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from studio.engine.errors import ExportError, RunStateError
from studio.engine.export.card import model_card
from studio.engine.export.space import check_free_space
from studio.engine.runs import Run


def adapter_zip(run: Run, out_file: str | Path) -> Path:
    """Write ``run``'s adapter and model card as the zip ``out_file`` (which must not exist)."""
    out_file = Path(out_file)
    if out_file.exists():
        raise ExportError("export_zip_exists", path=str(out_file))
    weights = run.weights_dir()
    if weights is None:
        raise RunStateError("export_no_weights", run=run.id, state=run.status().get("state"))
    if weights != run.adapter_dir:
        raise ExportError("export_no_adapter", run=run.id, kind=run.config().finetuning_type)
    files = sorted(p for p in weights.iterdir() if p.is_file() and p.name != "README.md")
    check_free_space(out_file.parent, sum(p.stat().st_size for p in files))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(f"{out_file.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in files:
                zf.write(path, f"{out_file.stem}/{path.name}")
            zf.writestr(f"{out_file.stem}/README.md", model_card(run))
        os.replace(tmp, out_file)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed zip (disk full, say) leaves nothing behind
        raise
    return out_file
