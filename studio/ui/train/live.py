"""The live view of one run: progress, four charts, probe answers and the log tail.

``build_live`` lays the components out; ``snapshot`` reads the run folder (never the job's memory)
and returns their new values, so any browser, opened at any time, sees the same run. Charts are
only re-sent when a new metrics row or probe round has arrived, so a poll every two seconds does
not redraw anything that has not changed. The Runs tab reuses ``snapshot`` for past runs.
"""

from __future__ import annotations

import gradio as gr

from studio.engine.runs import ACTIVE, page_text
from studio.ui import charts

PLOTS = (("loss", "train.chart.loss"), ("lr", "train.chart.lr"),
         ("grad_norm", "train.chart.grad_norm"), ("tokens_per_s", "train.chart.tokens_per_s"))
EMPTY = ("", 0, 0, "")  # (run id, metric rows, sample rounds, lang) last sent to the page
AXIS_FORMATS = {"lr": ".1e", "tokens_per_s": "~s"}  # d3-format: short tick labels


def _plot(ctx, key: str, text_key: str, prefix: str):
    return ctx.tr(gr.LinePlot, texts={"label": text_key, "x_title": "train.samples.step"},
                  x="step", y="value", color="series",
                  height=230, elem_id=f"{prefix}-chart-{key.replace('_', '-')}",
                  y_title=" ", color_title=" ", y_axis_format=AXIS_FORMATS.get(key, "~g"))


def build_live(ctx, prefix: str = "train") -> dict:
    """Progress bar, a 2x2 grid of charts, probe answers and log; returns the components."""
    c = {"header": gr.Markdown(elem_id=f"{prefix}-run-header"),
         "progress": gr.HTML(elem_id=f"{prefix}-progress")}
    for row in (PLOTS[:2], PLOTS[2:]):
        with gr.Row(equal_height=True):
            for key, text_key in row:
                c[key] = _plot(ctx, key, text_key, prefix)
    c["samples"] = ctx.tr(gr.Dataframe, texts={"label": "train.samples"}, wrap=True,
                          interactive=False, elem_id=f"{prefix}-samples", max_height=260)
    c["log"] = ctx.tr(gr.Textbox, texts={"label": "train.log"}, lines=8, max_lines=8,
                      autoscroll=True, interactive=False, elem_id=f"{prefix}-log",
                      elem_classes=["studio-log"])
    return c


def outputs(c: dict) -> list:
    return [c["header"], c["progress"], *(c[k] for k, _ in PLOTS), c["samples"], c["log"]]


def status_texts(tr, lang: str, state: str) -> dict:
    return {"state": tr.t(f"runs.state.{state}", lang) if state else "",
            "step": tr.t("train.progress.step", lang),
            "elapsed": tr.t("train.progress.elapsed", lang),
            "eta": tr.t("train.progress.eta", lang)}


def chart_values(tr, lang: str, rows: list[dict]) -> list:
    labels = {"loss": tr.t("train.series.loss", lang),
              "smoothed": tr.t("train.series.smoothed", lang),
              "eval_loss": tr.t("train.series.eval_loss", lang)}
    frames = [charts.loss_frame(rows, labels),
              *(charts.metric_frame(rows, key, tr.t(text_key, lang))
                for key, text_key in PLOTS[1:])]
    # None, never an empty frame: Gradio 6.31's LinePlot that once drew an empty frame stays
    # blank when data arrives later (seen in headless Chromium).
    return [None if f.empty else f for f in frames]


def snapshot(ctx, run_id: str, lang: str, seen: tuple = EMPTY) -> tuple[list, bool, tuple]:
    """(values for ``outputs``, whether the run is still active, the new ``seen`` marker)."""
    tr = ctx.tr
    if not run_id:
        empty = [tr.t("train.no_run", lang), "", *([None] * len(PLOTS)), None, ""]
        return empty, False, EMPTY
    try:
        run = ctx.store.get(run_id)
    except FileNotFoundError:
        return [tr.t("train.run_gone", lang, run=run_id), "", *([gr.skip()] * len(PLOTS)),
                gr.skip(), ""], False, EMPTY
    status, rows, samples = run.status(), run.metrics(), run.samples()
    state = status.get("state", "")
    header = tr.t("train.run_header", lang, run=run.id, state=tr.t(f"runs.state.{state}", lang))
    now = (run.id, len(rows), len(samples), lang)
    fresh = now[:2] != seen[:2] or now[3] != seen[3]
    plots = chart_values(tr, lang, rows) if fresh else [gr.skip()] * len(PLOTS)
    new_samples = now[2] != seen[2] or now[0] != seen[0] or now[3] != seen[3]
    table = (charts.samples_frame(samples, tr.t("train.samples.step", lang)) if new_samples
             else gr.skip())
    # The page shows the user's message and the log's own lines, never a traceback or a server
    # path (log.txt keeps both for the operator).
    status = {**status, "error": page_text(status.get("error") or "", run) or None}
    values = [header, charts.progress_html(status, status_texts(tr, lang, state)), *plots, table,
              run.page_log_tail(40)]
    return values, state in ACTIVE, now
