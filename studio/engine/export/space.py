"""Disk space for an export: how many bytes it will write, and a refusal before it starts.

A merged model is as large as its base (a 7B model in bf16 writes about 15 GB), and running out
of disk half-way leaves a broken folder and a full disk. ``merged_size`` estimates what an
export writes from the safetensors headers alone (no weight is loaded); ``check_free_space``
compares it, plus a margin, with the free space of the disk that will hold the export and raises
``export_disk_space`` naming both in human sizes, so the user can free space or pick another disk.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

from studio.engine.errors import ExportError
from studio.engine.models import resolve_model
from studio.engine.runs import Run

# Beyond the estimate: file-system blocks, metadata, and a system that still has room to run.
MARGIN_FRACTION = 0.05
MARGIN_MIN_BYTES = 100 * 10**6
# Bytes per element: of a safetensors dtype, and of a dtype name in config.json.
_STORED_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2,
                 "BF16": 2, "I16": 2, "U16": 2, "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1,
                 "F8_E5M2": 1}
_LOADED_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}
_CAST = ("F64", "F32", "F16", "BF16")  # the floats from_pretrained casts to config's dtype


def human_size(n: int) -> str:
    """``1234567890`` -> ``"1.2 GB"`` (decimal units, as disks and file managers count)."""
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1000
        if round(size, 1) < 1000 or unit == "TB":  # 999.96 KB reads as 1.0 MB, not 1000.0 KB
            return f"{size:.1f} {unit}"


def space_needed(need_bytes: int) -> int:
    """``need_bytes`` plus the margin an export keeps free."""
    return need_bytes + max(int(need_bytes * MARGIN_FRACTION), MARGIN_MIN_BYTES)


def check_free_space(folder: str | Path, need_bytes: int) -> None:
    """Raise ``export_disk_space`` unless the disk holding ``folder`` (or, when it does not exist
    yet, its nearest existing parent) has ``space_needed(need_bytes)`` free."""
    existing = Path(folder).absolute()
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    need = space_needed(need_bytes)
    if free < need:
        raise ExportError("export_disk_space", need=human_size(need), free=human_size(free),
                          path=str(existing))


def merged_size(run: Run) -> int | None:
    """Bytes a standalone export of ``run`` writes: the full model folder of a full fine-tune, or
    the base weights in the dtype the merge loads them in plus the tokenizer files of a LoRA run.
    None when that cannot be known here: no final weights yet, or base weights not on this
    machine (a hub id not downloaded)."""
    weights = run.weights_dir()
    if weights is None:
        return None
    if weights == run.model_dir:
        return _folder_bytes(weights)
    base = _local_folder(run.config().model)
    if base is None:
        return None
    tokenizer = sum(p.stat().st_size for p in weights.iterdir()
                    if p.is_file() and not p.name.startswith("adapter_") and p.name != "README.md")
    return _weights_bytes(base) + tokenizer


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _local_folder(model_id: str) -> Path | None:
    """The folder holding ``model_id``'s weights: a local folder, the bundled model's cache, or
    a hub id's snapshot in the Hugging Face cache (training downloaded it there)."""
    source = resolve_model(model_id)
    if Path(source).is_dir():
        return Path(source)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source, local_files_only=True))
    except (OSError, ValueError):  # not in the cache: the size is unknown, which is no error
        return None


def _weights_bytes(folder: Path) -> int:
    """Bytes of every tensor in ``folder``'s safetensors, counted in the dtype ``from_pretrained``
    loads them in (config.json's, else each tensor's own), read from the file headers only."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    dtype = config.get("dtype") or config.get("torch_dtype")
    total = 0
    for path in folder.glob("*.safetensors"):
        for name, info in _header(path).items():
            if name == "__metadata__":
                continue
            numel = 1
            for dim in info["shape"]:
                numel *= dim
            total += numel * _element_bytes(info["dtype"], dtype)
    return total


def _element_bytes(stored: str, loaded: str | None) -> int:
    if stored in _CAST and loaded in _LOADED_BYTES:
        return _LOADED_BYTES[loaded]
    return _STORED_BYTES.get(stored, 4)  # a dtype newer than this table: count it generously


def _header(path: Path) -> dict:
    """A safetensors file's JSON header: 8 bytes of little-endian length, then the JSON."""
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        return json.loads(fh.read(length))
