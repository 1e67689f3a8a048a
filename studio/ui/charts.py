"""Run-folder rows turned into what the live view and the Runs tab draw.

The job appends one row per log event to ``metrics.jsonl``; here those rows become long-format
DataFrames for ``gr.LinePlot`` (x=step, y=value, color=series), the loss gets an exponentially
smoothed twin drawn beside the raw curve, the throughput curve leaves out the step the job marked
as warm-up, and ``status.json`` becomes a progress bar with elapsed time (and how much of it the
probes took) and ETA. Nothing here imports gradio, so it is tested as plain functions.
"""

from __future__ import annotations

import html

import pandas as pd

COLUMNS = ["step", "value", "series"]
STATE_COLORS = {"running": "#6366f1", "queued": "#6366f1", "completed": "#16a34a",
                "stopped": "#d97706", "interrupted": "#d97706", "failed": "#dc2626"}
# Metrics that are a pace: the job marks the first step it logs ``warmup`` (it pays one-off
# set-up costs), and a chart that started with that step's dip would read as a slow start.
PACE_KEYS = {"tokens_per_s"}
SMOOTHING = 0.6  # TensorBoard-style EMA weight: visible trend without hiding the raw noise


def smooth(values: list[float], weight: float = SMOOTHING) -> list[float]:
    """Debiased exponential moving average (the first points are not dragged toward 0)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return out


def _frame(points: list[tuple]) -> pd.DataFrame:
    # Explicit dtypes: an empty object frame makes the chart treat the axes as categories.
    return pd.DataFrame(points, columns=COLUMNS).astype(
        {"step": "int64", "value": "float64", "series": "str"})


def _series(rows: list[dict], key: str, label: str) -> pd.DataFrame:
    points = [(r["step"], r[key]) for r in rows if r.get(key) is not None and "step" in r]
    return _frame([(s, float(v), label) for s, v in points])


def loss_frame(rows: list[dict], labels: dict[str, str]) -> pd.DataFrame:
    """Raw loss, its smoothed curve and eval loss on one set of axes."""
    raw = _series(rows, "loss", labels["loss"])
    smoothed = raw.assign(value=smooth(raw["value"].tolist()), series=labels["smoothed"])
    parts = [raw, smoothed, _series(rows, "eval_loss", labels["eval_loss"])]
    return pd.concat([p for p in parts if not p.empty] or [raw], ignore_index=True)


def metric_frame(rows: list[dict], key: str, label: str) -> pd.DataFrame:
    if key in PACE_KEYS:  # the warm-up step's pace is set-up cost, not training speed
        rows = [r for r in rows if not r.get("warmup")]
    return _series(rows, key, label)


# The charts a preference method or GRPO adds, each a list of (metric, series label key); a
# chart shows the series its run's rows hold, and a run with none of them hides the chart.
# GRPO's per-rule means (rewards/<rule>/mean) join the rewards chart under the rule's name.
METHOD_CHARTS = {
    "rewards": [("rewards/chosen", "chosen"), ("rewards/rejected", "rejected"),
                ("rewards/margins", "margin"), ("reward", "reward"), ("reward_std", "spread")],
    "agreement": [("rewards/accuracies", "accuracy"), ("kl", "kl")],
    "length": [("completions/mean_length", "length")],
}


def rule_keys(rows: list[dict]) -> list[str]:
    """GRPO's per-rule mean rewards present in ``rows``, in the order they first appear."""
    keys = []
    for r in rows:
        keys += [k for k in r if k.startswith("rewards/") and k.endswith("/mean")
                 and k not in keys]
    return keys


def method_frame(rows: list[dict], chart: str, labels: dict[str, str]) -> pd.DataFrame:
    """One of ``METHOD_CHARTS`` in long format; ``labels`` translates the series names."""
    series = [(key, labels.get(name, name)) for key, name in METHOD_CHARTS[chart]]
    if chart == "rewards":
        series += [(k, k.split("/")[1]) for k in rule_keys(rows)]
    parts = [_series(rows, key, label) for key, label in series]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else _frame([])


def overlay_frame(runs: dict[str, list[dict]], key: str = "loss", smoothed: bool = True):
    """One curve per run (smoothed loss by default), for comparing runs on the same axes."""
    parts = []
    for run_id, rows in runs.items():
        frame = _series(rows, key, run_id)
        if smoothed and not frame.empty:
            frame = frame.assign(value=smooth(frame["value"].tolist()))
        parts.append(frame)
    return pd.concat(parts, ignore_index=True) if parts else _frame([])


def samples_frame(samples: list[dict], step_label: str = "step") -> pd.DataFrame:
    """One row per probe round (newest first), one column per probe prompt."""
    prompts: list[str] = []
    for s in samples:
        for a in s.get("answers", []):
            if a["prompt"] not in prompts:
                prompts.append(a["prompt"])
    rows = []
    for s in reversed(samples):
        answers = {a["prompt"]: a["answer"] for a in s.get("answers", [])}
        rows.append([s.get("step", 0)] + [answers.get(p, "") for p in prompts])
    return pd.DataFrame(rows, columns=[step_label, *prompts])


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def eta_seconds(status: dict) -> float | None:
    """Remaining time at the pace so far (None until the first step has finished)."""
    step, total, elapsed = status.get("step") or 0, status.get("total_steps") or 0, \
        status.get("elapsed_s") or 0
    if step <= 0 or total <= 0 or elapsed <= 0:
        return None
    return max(0.0, (total - step) * elapsed / step)


def probe_seconds(status: dict) -> float | None:
    """Seconds of the run's wall time spent answering probes (None before the job says)."""
    elapsed, train = status.get("elapsed_s"), status.get("train_s")
    if elapsed is None or train is None or elapsed - train < 0.5:
        return None
    return elapsed - train


def progress_html(status: dict, texts: dict[str, str]) -> str:
    """A progress bar with step/total, elapsed and ETA; ``texts`` holds the translated words."""
    state = status.get("state", "")
    step, total = status.get("step") or 0, status.get("total_steps") or 0
    pct = 100.0 if state == "completed" else (100.0 * step / total if total else 0.0)
    eta = eta_seconds(status) if state == "running" else None
    parts = [f"{texts['step']} {step}/{total or '?'}",
             f"{texts['elapsed']} {fmt_seconds(status.get('elapsed_s'))}"]
    probes = probe_seconds(status)
    if probes and texts.get("probes"):  # elapsed is wall time: say how much of it was probes
        parts.append(f"{texts['probes']} {fmt_seconds(probes)}")
    if state == "running":
        parts.append(f"{texts['eta']} {fmt_seconds(eta)}")
    error = status.get("error")
    color = STATE_COLORS.get(state, "#6366f1")
    err_html = (f'<div style="margin-top:6px;color:#b91c1c">{html.escape(error)}</div>'
                if error else "")
    # Inline styles: the bar must look right whatever stylesheet the app was launched with.
    return (f'<div class="studio-progress state-{html.escape(state)}" style="padding:4px 2px">'
            '<div style="display:flex;justify-content:space-between;gap:12px;'
            'font-size:0.9rem;margin-bottom:4px">'
            f'<b style="color:{color}">{html.escape(texts["state"])}</b>'
            f'<span style="opacity:0.8">{html.escape(" · ".join(parts))}</span></div>'
            '<div style="height:10px;border-radius:5px;background:rgba(128,128,128,0.2);'
            'overflow:hidden">'
            # No CSS transition on the width: animating it redrew the page for 0.6 s at every
            # step, CPU taken from the training on a small machine.
            f'<div class="pb-fill" style="width:{pct:.1f}%;height:100%;background:{color}">'
            '</div></div>'
            f"{err_html}</div>")
