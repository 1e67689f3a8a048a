"""Tokenized training rows cached on disk, so a second run on the same data starts at once.

Rendering each conversation with the chat template and marking its assistant tokens costs about
2 ms a row (two seconds for a thousand alpaca rows, minutes for a large set), and a person tweaking
a learning rate re-runs the same data again and again. The key covers everything the result depends
on: the normalized records themselves (so filled placeholders and system prompts count), the
tokenizer's vocabulary, merges, special tokens and chat template, the assistant-only switch, and
the source of ``studio.engine.data.template`` (a change in how masks are built invalidates old
entries).
A damaged or unwritable cache is never an error: the rows are simply tokenized again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from studio.engine.data import template
from studio.engine.data.template import tokenize_record
from studio.engine.io import write_atomic
from studio.engine.models import cache_root

KEEP_ENTRIES = 32  # newest entries kept; a few MB each at most for typical demo sets


def cache_dir() -> Path:
    return cache_root() / "tokenized"


def tokenizer_fingerprint(tokenizer) -> str:
    digest = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(backend.to_str().encode())
    else:  # slow tokenizers have no serialized form; their vocabulary stands in for it
        digest.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    digest.update(str(tokenizer.chat_template or "").encode())
    digest.update(json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def cache_key(tokenizer, records: list[dict], assistant_only: bool) -> str:
    digest = hashlib.sha256()
    digest.update(Path(template.__file__).read_bytes())
    digest.update(tokenizer_fingerprint(tokenizer).encode())
    digest.update(b"assistant_only" if assistant_only else b"all_tokens")
    digest.update(json.dumps(records, sort_keys=True, ensure_ascii=False, default=str).encode())
    return digest.hexdigest()[:40]


def tokenize_records(tokenizer, records: list[dict], assistant_only: bool = True) -> list[dict]:
    """``tokenize_record`` of every record, from the cache when this exact input was seen."""
    key = cache_key(tokenizer, records, assistant_only)
    path = cache_dir() / f"{key}.json"
    cached = _read(path, len(records))
    if cached is not None:
        return cached
    rows = [tokenize_record(tokenizer, r, assistant_only) for r in records]
    _write(path, rows)
    return rows


def _read(path: Path, expected: int) -> list[dict] | None:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(rows, list) or len(rows) != expected:
        return None
    os.utime(path)  # recently used entries survive pruning
    return rows


def _write(path: Path, rows: list[dict]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(rows, separators=(",", ":")))  # never half a file
        _prune(path.parent)
    except OSError:
        pass  # a read-only or full disk only costs the next run its head start


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP_ENTRIES:]:
        old.unlink(missing_ok=True)
