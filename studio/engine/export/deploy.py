"""Exports by kind, named and placed the same way for the Deploy tab and ``studio export``.

A source is a run or a base model id. ``export(kind, source, root)`` writes into
``root/<run id or model name>/``: ``merged/`` (a standalone safetensors folder with its model
card), ``<name>-adapter.zip``, or ``<name>-<quant>.gguf`` with an Ollama ``Modelfile`` beside it.
An export that already exists is handed back rather than written twice, so a second click tells
a person where the first one went. A GGUF of a LoRA run is written from its merged folder (made
first when missing), since llama.cpp loads whole models; the Modelfile carries the run's chat
template and system prompt.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from studio.engine.errors import ExportError
from studio.engine.runs import Run

KINDS = ("merged", "adapter", "gguf")
# Bytes per weight in a GGUF file, for the free-space check (block scales included).
GGUF_BYTES_PER_WEIGHT = {"f32": 4, "f16": 2, "bf16": 2, "q8_0": 1.07, "q5_1": 0.75,
                         "q5_0": 0.69, "q4_1": 0.63, "q4_0": 0.57}


@dataclass
class Exported:
    kind: str
    path: Path  # the folder or file written
    files: list[Path] = field(default_factory=list)  # what a person downloads
    reused: bool = False  # it was already there


def source_name(source: Run | str) -> str:
    if isinstance(source, Run):
        return source.id
    return re.sub(r"[^\w.-]+", "-", Path(str(source)).name).strip("-") or "model"


def export(kind: str, source: Run | str, root: str | Path, quant: str = "q8_0") -> Exported:
    """Write (or find) the ``kind`` export of ``source`` under ``root``."""
    if kind not in KINDS:
        raise ExportError("export_kind", kind=kind, choices=", ".join(KINDS))
    folder = Path(root) / source_name(source)
    if kind == "merged":
        return merged(source, folder / "merged")
    if kind == "adapter":
        return adapter(require_run(source, kind), folder / f"{source_name(source)}-adapter.zip")
    return gguf_file(source, folder / f"{source_name(source)}-{quant}.gguf", quant)


def merged(source: Run | str, target: Path) -> Exported:
    if target.exists():
        return Exported("merged", target, reused=True)
    from studio.engine.export.merge import export_run

    return Exported("merged", export_run(require_run(source, "merged"), target))


def adapter(run: Run, target: Path) -> Exported:
    if target.exists():
        return Exported("adapter", target, [target], reused=True)
    from studio.engine.export.bundle import adapter_zip

    return Exported("adapter", adapter_zip(run, target), [target])


def gguf_file(source: Run | str, target: Path, quant: str) -> Exported:
    """``target`` (.gguf) and a ``Modelfile`` beside it for ``ollama create``."""
    modelfile = target.with_name("Modelfile")
    if target.exists():
        return Exported("gguf", target, [target, modelfile], reused=True)
    from transformers import AutoTokenizer

    from studio.engine.export.gguf import GGUF_QUANTS, write_gguf
    from studio.engine.export.modelfile import derive_wrappers, write_modelfile
    from studio.engine.export.space import check_free_space

    if quant not in GGUF_QUANTS:
        raise ExportError("gguf_quant", quant=quant, choices=", ".join(GGUF_QUANTS))
    weights = _whole_model(source, target.parent)
    tokenizer = AutoTokenizer.from_pretrained(str(weights))
    derive_wrappers(tokenizer)  # a template Ollama cannot take is refused before the long write
    check_free_space(target.parent, _gguf_bytes(weights, quant))
    write_gguf(weights, target, quant)
    system = source.config().system_prompt if isinstance(source, Run) else ""
    write_modelfile(target.parent, target.name, tokenizer, system=system)
    return Exported("gguf", target, [target, modelfile])


def _whole_model(source: Run | str, folder: Path) -> Path:
    """A folder with the whole model: the base's, a full fine-tune's, or the merged run."""
    if not isinstance(source, Run):
        from studio.engine.models import resolve_model

        found = Path(resolve_model(source))
        if not found.is_dir():
            raise ExportError("export_base_not_local", model=source)
        return found
    if source.weights_dir() == source.model_dir:
        return source.model_dir
    return merged(source, folder / "merged").path


def _gguf_bytes(weights: Path, quant: str) -> int:
    config = json.loads((weights / "config.json").read_text(encoding="utf-8"))
    dtype = config.get("dtype") or config.get("torch_dtype")
    stored = 4 if dtype in (None, "float32") else 2
    size = sum(p.stat().st_size for p in weights.glob("*.safetensors"))
    return int(size / stored * GGUF_BYTES_PER_WEIGHT[quant])


def require_run(source: Run | str, kind: str) -> Run:
    if not isinstance(source, Run):
        raise ExportError("export_needs_run", kind=kind)
    return source
