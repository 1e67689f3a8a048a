"""Small file helpers every part of the engine writes through, so no reader sees half a file.

``write_atomic`` replaces a file in one step (write a temporary file beside it, then rename), so a
page polling ``status.json`` or a crash mid-write never leaves a truncated file. ``append_jsonl``
adds one flushed line under a lock (two tabs voting at once must not interleave half lines);
``read_jsonl`` skips the one line a writer may be in the middle of; ``write_jsonl`` writes a
whole file atomically and, unless told to, never replaces an existing one. A folder that is
still being written is built under ``<name>.tmp`` and renamed with ``publish_folder``.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path

_append_lock = threading.Lock()


def _tmp(path: Path) -> Path:
    # The pid keeps two processes writing the same file from sharing a temporary file.
    return path.with_name(f"{path.name}.{os.getpid()}.tmp")


def write_atomic(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step; on failure (a full disk) the old file stays
    and no half-written temporary is left beside it."""
    path = Path(path)
    tmp = _tmp(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data, **dump_kwargs) -> None:
    write_atomic(path, json.dumps(data, ensure_ascii=False, **dump_kwargs))


def append_jsonl(path: str | Path, row: dict) -> None:
    """Append one JSON line and flush it (the folder is created when missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _append_lock, open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()


def read_jsonl(path: str | Path) -> list[dict]:
    """Every whole line of a JSON Lines file; a missing file reads as empty."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line being written right now; the next read gets it whole
    return rows


def write_jsonl(path: str | Path, rows: Iterable[dict], replace: bool = False) -> Path:
    """Write ``rows`` as a JSON Lines file in one step; FileExistsError if ``path`` exists and
    ``replace`` is off (a user's dataset is never overwritten)."""
    path = Path(path)
    if path.exists() and not replace:
        raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def staging_folder(target: str | Path) -> Path:
    """An empty ``<target>.tmp`` folder to build ``target`` in (see ``publish_folder``)."""
    tmp = Path(target).with_name(Path(target).name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    return tmp


def publish_folder(tmp: Path, target: str | Path, replace: bool = False) -> Path:
    """Rename a finished staging folder to ``target``: a half-built folder is never seen."""
    target = Path(target)
    if replace:
        shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target
