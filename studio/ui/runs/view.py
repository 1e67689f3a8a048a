"""Tables for the Runs tab: the run list, a config diff between runs, and a run's files.

Plain functions over ``RunStore`` and ``Run`` that return DataFrames and Markdown with headers in
the page's language; the tab module only wires them to components.
"""

from __future__ import annotations

import pandas as pd

from studio.engine.train.config import to_dict
from studio.ui.charts import fmt_seconds

LIST_COLUMNS = ("id", "state", "model", "dataset", "method", "progress", "duration", "loss")
# Text symbols, not emoji: they render in every font (headless Chromium has no emoji font).
STATE_ICONS = {"queued": "…", "running": "●", "completed": "✓", "stopped": "■",
               "failed": "✗", "interrupted": "⚠"}


def state_label(tr, lang: str, state: str) -> str:
    return f"{STATE_ICONS.get(state, '')} {tr.t(f'runs.state.{state}', lang)}".strip()


def _short(path: str) -> str:
    """Long model and dataset paths shown by their last two parts."""
    parts = str(path).rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) > 2 else str(path)


def runs_table(tr, lang: str, store) -> pd.DataFrame:
    rows = []
    for run in store.list():
        s = run.summary()
        rows.append([s["id"], state_label(tr, lang, s["state"]), _short(s["model"]),
                     _short(s["dataset"]), s["method"], f"{s['step']}/{s['total_steps'] or '?'}",
                     fmt_seconds(s["duration_s"]),
                     "" if s["final_loss"] is None else f"{s['final_loss']:.4f}"])
    headers = [tr.t(f"runs.col.{c}", lang) for c in LIST_COLUMNS]
    return pd.DataFrame(rows, columns=headers)


def config_diff(tr, lang: str, store, run_ids: list[str]) -> pd.DataFrame:
    """Only the fields whose values differ between the runs, one column per run."""
    configs = {}
    for run_id in run_ids:
        try:
            configs[run_id] = to_dict(store.get(run_id).config())
        except Exception:  # a run without a readable config is left out of the diff
            continue
    if len(configs) < 2:
        return pd.DataFrame(columns=[tr.t("runs.col.field", lang)])
    names = list(next(iter(configs.values())))
    rows = [[tr.t(f"field.{n}.label", lang)] + [str(c.get(n)) for c in configs.values()]
            for n in names if len({str(c.get(n)) for c in configs.values()}) > 1]
    return pd.DataFrame(rows, columns=[tr.t("runs.col.field", lang), *configs])


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def files_markdown(tr, lang: str, run) -> str:
    """The run folder's top-level entries with sizes; folders summarized by file count."""
    lines = [f"`{run.id}/`", ""]  # by its id: a page never shows where the server keeps it
    for entry in sorted(run.path.iterdir()):
        try:  # files come and go while a run trains (atomic writes, checkpoint rotation)
            if entry.is_dir():
                files = [p for p in entry.rglob("*") if p.is_file()]
                size = sum(p.stat().st_size for p in files)
                lines.append(f"- `{entry.name}/` · "
                             f"{tr.t('runs.files.count', lang, n=len(files))} · {_size(size)}")
            elif not entry.name.endswith(".tmp") and not entry.name.startswith("."):
                lines.append(f"- `{entry.name}` · {_size(entry.stat().st_size)}")
        except OSError:
            continue
    weights = run.weights_dir()
    note = tr.t("runs.files.weights", lang, path=weights.name) if weights else \
        tr.t("runs.files.no_weights", lang)
    return "\n".join([*lines, "", note])
