"""Scoring results on disk and side by side: save, list a run's history, compare two results.

Each scoring run is one JSON file under a run's ``eval/`` folder (per-question predictions and
log-probabilities included), so the history of a fine-tune's scores is just that folder's files.
``compare`` lines two results up by subject, category and overall with the accuracy delta.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from studio.engine.io import write_json


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", str(text)).strip("-")[:40] or "model"


def save_result(result: dict, folder: str | Path, label: str = "") -> Path:
    """Write ``result`` as a new JSON file in ``folder`` and return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(result.get("created_at", time.time())))
    name = (f"{result['benchmark']}-{result['split']}-{result.get('shots', 0)}shot-"
            f"{result.get('format', 'plain')}-{_slug(label or result.get('label', ''))}-{stamp}")
    path, n = folder / f"{name}.json", 1
    while path.exists():
        n += 1
        path = folder / f"{name}-{n}.json"
    write_json(path, result, indent=1)  # a reader never sees half a file
    return path


def load_result(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def history(folder: str | Path) -> list[dict]:
    """One summary row per saved result in ``folder``, oldest first."""
    rows = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            r = load_result(path)
            rows.append({"file": path.name, "created_at": r.get("created_at"),
                         "benchmark": r["benchmark"], "split": r["split"],
                         "shots": r.get("shots"), "format": r.get("format"),
                         "label": r.get("label", ""), "model": r.get("model", ""),
                         "adapter": r.get("adapter", ""), "n": r["overall"]["n"],
                         "acc": r["overall"]["acc"], "stopped": r.get("stopped", False)})
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a foreign or damaged file is not a score
    return sorted(rows, key=lambda r: r["created_at"] or 0)


def compare(a: dict, b: dict) -> list[dict]:
    """Rows of (level, name, n, acc_a, acc_b, delta) for subjects, categories and overall.

    Questions scored on one side only (a stopped run) do not count on either side, so a delta
    always compares the same questions.
    """
    rows = []
    common = {}
    for key, sa in a["subjects"].items():
        sb = b["subjects"].get(key)
        if sb:
            common[key] = _same_questions(sa, sb)
    for key, (sa, sb) in sorted(common.items(), key=lambda kv: (kv[1][0]["category"], kv[0])):
        rows.append(_row("subject", key, sa, sb))
    cats: dict[str, list] = {}
    for sa, sb in common.values():
        cats.setdefault(sa["category"], []).append((sa, sb))
    for cat, pairs in cats.items():
        rows.append(_row("category", cat, _sum([p[0] for p in pairs]), _sum([p[1] for p in pairs])))
    pairs = list(common.values())
    rows.append(_row("overall", "overall", _sum([p[0] for p in pairs]),
                     _sum([p[1] for p in pairs])))
    return rows


def _same_questions(sa: dict, sb: dict) -> tuple[dict, dict]:
    shared = set(sa["indices"]) & set(sb["indices"])

    def cut(s):
        keep = [j for j, i in enumerate(s["indices"]) if i in shared]
        correct = sum(s["predictions"][j] == s["answers"][j] for j in keep)
        return {"category": s["category"], "n": len(keep), "correct": correct}

    return cut(sa), cut(sb)


def _sum(parts: list[dict]) -> dict:
    return {"n": sum(p["n"] for p in parts), "correct": sum(p["correct"] for p in parts)}


def _row(level: str, name: str, sa: dict, sb: dict) -> dict:
    acc_a = sa["correct"] / sa["n"] if sa["n"] else 0.0
    acc_b = sb["correct"] / sb["n"] if sb["n"] else 0.0
    return {"level": level, "name": name, "n": sa["n"], "acc_a": acc_a, "acc_b": acc_b,
            "delta": acc_b - acc_a}
