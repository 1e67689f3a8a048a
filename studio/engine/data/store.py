"""Where datasets come from and go to: the picker's list, uploads, column mapping, saving.

The Data tab and the Train tab's dataset picker both call ``list_datasets``. Every path a user
names goes through ``Workspace.resolve``; anything that is not a readable path but looks like
``owner/name`` is read from the hub. Uploads are copied into ``<workspace>/datasets/uploads`` so a
closed browser or a restarted server still finds them. Saving writes a new messages-JSONL file
under ``<workspace>/datasets`` and never overwrites anything, the user's original file included.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from studio.engine.data import dataset_info
from studio.engine.data.formats import default_mapping, normalize
from studio.engine.data.read import SUFFIXES
from studio.engine.errors import DataError, PathError
from studio.engine.io import write_jsonl
from studio.engine.models import HUB_ID
from studio.engine.workspace import ASSETS, Workspace

UPLOADS = "uploads"
# The columns a person may re-map, per format. alpaca and text go to normalize() as its mapping;
# for the others the chosen columns are renamed to the names normalize() reads.
SLOTS = {"alpaca": ("instruction", "input", "output", "system", "history"),
         "sharegpt": ("conversations", "system", "tools"),
         "messages": ("messages", "system", "tools"),
         "preference": ("prompt", "chosen", "rejected", "system"),
         "text": ("text",)}
REQUIRED = {"instruction", "output", "conversations", "messages", "chosen", "rejected", "text"}
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def _data_files(folder: Path, depth: int) -> list[Path]:
    if not folder.is_dir():
        return []
    pattern = "**/*" if depth > 1 else "*"
    # A folder's README is about the data, not data: it is still readable when typed in.
    files = [p for p in folder.glob(pattern)
             if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
             and not p.name.upper().startswith("README")]
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)


def list_datasets(workspace: Workspace) -> list[str]:
    """Datasets a user can pick: saved and uploaded ones (newest first), workspace files, assets.

    Entries are strings ``Workspace.resolve`` accepts: relative to the workspace for its files,
    ``assets/<file>`` for the project's own data, absolute paths for ``--allow-path`` folders.
    A LLaMA-Factory ``dataset_info.json`` (also one folder down, as in its ``data/``) is listed
    as its entries, ``<path>#<name>``.
    """
    root = workspace.root
    out = [str(p.relative_to(root)) for p in _data_files(workspace.datasets_dir, depth=2)]
    out += [str(p.relative_to(root)) for p in _data_files(root, depth=1)]
    out += [str(p.relative_to(root)) for p in _info_files(root)]
    out += [f"assets/{p.name}" for p in sorted(_data_files(ASSETS, depth=1))]
    for extra in workspace.extra_roots:
        out += [str(p) for p in sorted(_data_files(extra, depth=1))]
        out += [str(p) for p in _info_files(extra)]
    return [item for name in dict.fromkeys(out) for item in _entries_or_self(workspace, name)]


def _info_files(folder: Path) -> list[Path]:
    """``dataset_info.json`` files one folder below ``folder`` (hidden folders skipped)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"*/{dataset_info.INFO_NAME}")
                  if p.is_file() and not p.parent.name.startswith("."))


def _entries_or_self(workspace: Workspace, item: str) -> list[str]:
    if Path(item).name != dataset_info.INFO_NAME:
        return [item]
    try:
        names = dataset_info.list_entries(workspace.resolve(item))
    except (DataError, PathError):
        return [item]  # a broken file stays pickable, so picking it says what is wrong
    return [f"{item}#{name}" for name in names]


def resolve_source(workspace: Workspace, source: str) -> str:
    """A readable file path (``<path>#<entry>`` for a dataset_info.json entry), or the hub id
    itself; PathError for paths outside the workspace."""
    source = (source or "").strip()
    if not source:
        raise DataError("dataset_none")
    entry = _resolve_entry(workspace, source)
    if entry:
        return entry
    try:
        return str(workspace.resolve(source))
    except PathError:
        if HUB_ID.match(source) and Path(source).suffix.lower() not in SUFFIXES:
            return source
        raise


def _resolve_entry(workspace: Workspace, source: str) -> str | None:
    """``<path>#<entry>`` with its path resolved in the workspace; None for other sources."""
    parts = dataset_info.split_source(source)
    if parts is None:
        return None
    head, name = parts
    try:
        path = workspace.resolve(head)
    except PathError:
        if Path(head).name == dataset_info.INFO_NAME:
            raise
        return None
    return f"{path}#{name}" if dataset_info.info_file(path) else None


def store_upload(workspace: Workspace, uploaded: str) -> str:
    """Copy an uploaded file into the workspace (never replacing a file) and name it there."""
    src = Path(uploaded)
    if src.suffix.lower() not in SUFFIXES:
        raise DataError("data_suffix", path=src.name, suffix=src.suffix,
                        allowed=", ".join(SUFFIXES))
    folder = workspace.writable(f"datasets/{UPLOADS}")
    folder.mkdir(parents=True, exist_ok=True)
    stem, target, n = safe_name(src.stem) or "upload", None, 0
    while target is None or target.exists():
        n += 1
        target = folder / (f"{stem}{src.suffix.lower()}" if n == 1
                           else f"{stem}-{n}{src.suffix.lower()}")
    shutil.copyfile(src, target)
    return str(target.relative_to(workspace.root))


# --------------------------------------------------------------------------- column mapping


def columns(rows: list[dict]) -> list[str]:
    """Column names seen in the first rows, in first-seen order."""
    return list(dict.fromkeys(k for row in rows[:50] for k in row))


def default_slots(fmt: str, rows: list[dict]) -> dict[str, str]:
    """The column each slot of ``fmt`` reads by default ('' = none)."""
    cols = set(columns(rows))
    if fmt in ("alpaca", "text"):
        return {k: v for k, v in default_mapping(fmt, rows).items() if k in SLOTS[fmt]}
    if fmt == "preference":
        prompt = "conversations" if "conversations" in cols else "prompt"
        slots = {"prompt": prompt, "chosen": "chosen", "rejected": "rejected",
                 "system": "system"}
    else:
        slots = {slot: slot for slot in SLOTS[fmt]}
    return {k: v if v in cols else "" for k, v in slots.items()}


def convert(rows: list[dict], fmt: str, slots: dict[str, str], source: str) -> list[dict]:
    """Normalize ``rows`` read as ``fmt`` with the user's column choices."""
    if fmt not in SLOTS:
        raise DataError("data_format_choice", fmt=fmt, choices=", ".join(SLOTS))
    slots = {k: (v or "") for k, v in slots.items() if k in SLOTS[fmt]}
    missing = [k for k in SLOTS[fmt] if k in REQUIRED and not slots.get(k, k)]
    if missing:
        raise DataError("dataset_columns", slots=", ".join(missing))
    if fmt in ("alpaca", "text"):
        return normalize(rows, fmt, slots, source=source)
    return normalize(_renamed(rows, fmt, slots), fmt, source=source)


def _renamed(rows: list[dict], fmt: str, slots: dict[str, str]) -> list[dict]:
    # normalize() reads fixed field names for these formats; give it the chosen columns under
    # those names and drop the original fields a slot was moved away from.
    target = {slot: ("conversations" if fmt == "preference" and slot == "prompt"
                     and col == "conversations" else slot) for slot, col in slots.items()}
    if all(col == target[slot] for slot, col in slots.items()):
        return rows
    dropped = set(slots.values()) | set(target.values())
    out = []
    for row in rows:
        new = {k: v for k, v in row.items() if k not in dropped}
        new.update({target[slot]: row.get(col) for slot, col in slots.items() if col})
        out.append(new)
    return out


# --------------------------------------------------------------------------- saving


def safe_name(name: str) -> str:
    """A file-name-safe version of what the user typed (letters of any script kept)."""
    name = re.sub(r"[^\w.-]+", "-", (name or "").strip()).strip(".-")
    return name.removesuffix(".jsonl")[:80]


def saved_path(workspace: Workspace, name: str) -> Path:
    clean = safe_name(name)
    if not clean:
        raise DataError("dataset_name")
    return workspace.writable(f"datasets/{clean}.jsonl")


def save_dataset(workspace: Workspace, name: str, records: list[dict]) -> Path:
    """Write ``records`` as ``<workspace>/datasets/<name>.jsonl``; refuses existing names."""
    if not records:
        raise DataError("dataset_no_rows")
    path = saved_path(workspace, name)
    try:
        return write_jsonl(path, records)
    except FileExistsError:
        raise DataError("data_exists", path=str(path)) from None


def placeholders(records: list[dict], limit: int = 200) -> list[str]:
    """``{{name}}``-style placeholders in the first rows (the identity demo has them)."""
    found = set()
    for rec in records[:limit]:
        found.update(PLACEHOLDER.findall(str(rec)))
    return sorted(found)
