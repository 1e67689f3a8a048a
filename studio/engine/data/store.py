"""Where datasets come from and go to: the picker's list, uploads, column mapping, saving.

The Data tab and the Train tab's dataset picker both call ``list_datasets``. Every path a user
names goes through ``Workspace.resolve``; anything that is not a readable path but looks like
``owner/name`` is read from the hub. Uploads are copied into ``<workspace>/datasets/uploads`` so a
closed browser or a restarted server still finds them. Saving writes a new messages-JSONL file
under ``<workspace>/datasets`` and never overwrites anything, the user's original file included:
both go through ``exclusive``, so two sessions taking one name at once cannot replace each
other's file. ``public_error`` rewrites the server's absolute folders in an error into the names
a page shows (``assets/``, a workspace-relative path), so a message never maps the server's disk.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path

from studio.engine.data import dataset_info, exclusive, limits
from studio.engine.data.formats import default_mapping, normalize
from studio.engine.data.read import SUFFIXES
from studio.engine.errors import DataError, PathError, Reason, StudioError
from studio.engine.models import HUB_ID
from studio.engine.workspace import ASSETS, PRESETS, Workspace

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
    inside = folder.resolve()
    # A folder's README is about the data, not data: it is still readable when typed in. A link
    # out of the folder is not offered: loading it would be refused.
    files = [p for p in folder.glob(pattern)
             if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
             and not p.name.upper().startswith("README") and p.resolve().is_relative_to(inside)]
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


def store_upload(workspace: Workspace, uploaded: str, max_bytes: int | None = None) -> str:
    """Copy an uploaded file into the workspace under a free name (``x.json``, ``x-2.json``...,
    never replacing a file) and name it there; a file over ``max_bytes`` is refused uncopied."""
    src = Path(uploaded)
    suffix = src.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError("data_suffix", path=src.name, suffix=src.suffix or "(none)",
                        allowed=", ".join(SUFFIXES))
    if not src.is_file():
        raise DataError("data_file_missing", path=src.name)
    limits.check_size(src, src.name, max_bytes)
    folder = workspace.writable(f"datasets/{UPLOADS}")
    folder.mkdir(parents=True, exist_ok=True)
    stem = safe_name(src.stem) or "upload"
    names = (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}" for n in itertools.count(1))
    target = exclusive.copy_new(src, folder, names)
    return str(target.relative_to(workspace.root))


def discard_upload(workspace: Workspace, stored: str) -> None:
    """Remove an upload ``store_upload`` just made (its file could not be loaded): a refused
    file must not stay behind in the picker. Only files in the uploads folder are touched."""
    path = workspace.writable(stored)
    if path.parent == workspace.writable(f"datasets/{UPLOADS}"):
        path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- messages


def public_text(workspace: Workspace, text: str) -> str:
    """``text`` with each allowed folder's absolute path replaced by the name a page shows."""
    names = {workspace.root: ("", "the workspace"), ASSETS: ("assets/", "assets/"),
             PRESETS: ("presets/", "presets/"), ASSETS.parent: ("", "the studio folder"),
             **{r: (f"{r.name}/", f"{r.name}/") for r in workspace.extra_roots}}
    for root in sorted(names, key=lambda r: len(str(r)), reverse=True):
        prefix, alone = names[root]
        text = text.replace(str(root) + os.sep, prefix)
        # The folder itself, but not "/srv/ws2" for "/srv/ws": a name may not go on after it.
        text = re.sub(re.escape(str(root)) + r"(?![\w-])(?!\.\w)", alone, text)
    return text


def public_error(workspace: Workspace, exc: StudioError) -> StudioError:
    """``exc``'s reasons, their text parameters naming no server folder (see ``public_text``)."""
    return StudioError([_public_reason(workspace, r) for r in exc.reasons])


def _public_reason(workspace: Workspace, reason: Reason) -> Reason:
    def clean(value):
        if isinstance(value, Reason):
            return _public_reason(workspace, value)
        return public_text(workspace, value) if isinstance(value, str) else value

    return Reason(reason.code, {k: clean(v) for k, v in reason.params.items()})


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
        # A column the row lacks stays missing (not None), so normalize() names the field, or
        # the other format the row is in, instead of calling None a bad value.
        new.update({target[slot]: row[col] for slot, col in slots.items() if col and col in row})
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
    """Write ``records`` as ``<workspace>/datasets/<name>.jsonl``; a name that is taken (also by
    a session saving at this very moment) is refused, never overwritten."""
    if not records:
        raise DataError("dataset_no_rows")
    path = saved_path(workspace, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    try:
        return exclusive.write_new(path, data)
    except FileExistsError:
        raise DataError("data_name_taken", name=path.name) from None


def placeholders(records: list[dict], limit: int = 200) -> list[str]:
    """``{{name}}``-style placeholders in the first rows (the identity demo has them)."""
    found = set()
    for rec in records[:limit]:
        found.update(PLACEHOLDER.findall(str(rec)))
    return sorted(found)
