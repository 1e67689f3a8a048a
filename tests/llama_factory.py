"""Small ``dataset_info.json`` folders written by hand, for the tests of LLaMA-Factory folders."""

from __future__ import annotations

import json
from pathlib import Path

from studio.engine.data import dataset_info as di


def folder_with(tmp_path: Path, entries: dict, files: dict, name: str = "data") -> Path:
    """``tmp_path/<name>/`` holding ``dataset_info.json`` and ``files`` (name -> rows or text)."""
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / di.INFO_NAME).write_text(json.dumps(entries), encoding="utf-8")
    for file, rows in files.items():
        text = rows if isinstance(rows, str) else (
            "\n".join(json.dumps(r) for r in rows) if file.endswith(".jsonl") else json.dumps(rows))
        (folder / file).write_text(text, encoding="utf-8")
    return folder / di.INFO_NAME


def entry(info: Path, name: str) -> str:
    return f"{info}#{name}"


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}
