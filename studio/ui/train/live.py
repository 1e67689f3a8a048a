"""The live view of one run: progress, charts, probe answers and the log tail.

``build_live`` lays the components out; ``snapshot`` reads the run folder (never the job's memory)
and returns their new values, so any browser, opened at any time, sees the same run. Watching must
cost the training next to nothing, and on a small CPU the page's browser shares the cores with
the job, so a poll sends only what changed since the page's last one (``Seen``): the probe table
on a new round, and the four charts, the costliest thing a page redraws, on new metrics rows but
at most every ``CHART_SECONDS`` while the run trains (always once it has ended); the header,
progress bar and log are small text the page redraws only when it differs. The throughput chart
shows the job's probe-free pace without the warm-up step. The Runs tab reuses ``snapshot``.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import gradio as gr

from studio.engine.runs import ACTIVE, page_text
from studio.ui import charts, forgetting_card

PLOTS = (("loss", "train.chart.loss"), ("lr", "train.chart.lr"),
         ("grad_norm", "train.chart.grad_norm"), ("tokens_per_s", "train.chart.tokens_per_s"))
# Shown only for runs whose method logs them (charts.METHOD_CHARTS): DPO, ORPO, SimPO and KTO's
# rewards, margins and accuracy or KL; GRPO's reward per rule, spread, KL and answer length.
METHOD_PLOTS = (("rewards", "train.chart.rewards"), ("agreement", "train.chart.agreement"),
                ("length", "train.chart.length"))
SERIES = ("chosen", "rejected", "margin", "reward", "spread", "accuracy", "kl", "length")
# Seconds between two chart redraws while a run trains: each redraw of the four charts costs
# the page's browser far more CPU than the rest of a poll, and a step every second or two
# does not need a redraw every second or two to read as live.
CHART_SECONDS = 12.0


class Seen(NamedTuple):
    """What one page was last sent, so the next poll sends only what changed."""

    run: str = ""
    rows: int = 0  # metrics rows drawn in the charts
    rounds: int = 0  # probe rounds in the table
    lang: str = ""
    texts: tuple = ()  # hashes of the header, progress bar and log last sent
    charts_at: float = 0.0  # when the charts were last sent


EMPTY = Seen()
AXIS_FORMATS = {"lr": ".1e", "tokens_per_s": "~s"}  # d3-format: short tick labels


def _plot(ctx, key: str, text_key: str, prefix: str, visible: bool = True):
    return ctx.tr(gr.LinePlot, texts={"label": text_key, "x_title": "train.samples.step"},
                  x="step", y="value", color="series", visible=visible,
                  height=230, elem_id=f"{prefix}-chart-{key.replace('_', '-')}",
                  y_title=" ", color_title=" ", y_axis_format=AXIS_FORMATS.get(key, "~g"))


def build_live(ctx, prefix: str = "train") -> dict:
    """Progress bar, a 2x2 grid of charts, probe answers and log; returns the components."""
    c = {"header": gr.Markdown(elem_id=f"{prefix}-run-header"),
         "progress": gr.HTML(elem_id=f"{prefix}-progress")}
    c.update(forgetting_card.build(ctx, prefix))  # filled by the tabs' polls, not snapshot
    for row in (PLOTS[:2], PLOTS[2:]):
        with gr.Row(equal_height=True):
            for key, text_key in row:
                c[key] = _plot(ctx, key, text_key, prefix)
    for row in (METHOD_PLOTS[:2], METHOD_PLOTS[2:]):
        with gr.Row(equal_height=True):
            for key, text_key in row:
                # hidden until a run that logs them is shown
                c[key] = _plot(ctx, key, text_key, prefix, visible=False)
    c["samples"] = ctx.tr(gr.Dataframe, texts={"label": "train.samples"}, wrap=True,
                          interactive=False, elem_id=f"{prefix}-samples", max_height=260)
    c["log"] = ctx.tr(gr.Textbox, texts={"label": "train.log"}, lines=8, max_lines=8,
                      autoscroll=True, interactive=False, elem_id=f"{prefix}-log",
                      elem_classes=["studio-log"])
    return c


def outputs(c: dict) -> list:
    return [c["header"], c["progress"], *(c[k] for k, _ in PLOTS), c["samples"], c["log"],
            *(c[k] for k, _ in METHOD_PLOTS)]


def status_texts(tr, lang: str, state: str) -> dict:
    return {"state": tr.t(f"runs.state.{state}", lang) if state else "",
            "step": tr.t("train.progress.step", lang),
            "elapsed": tr.t("train.progress.elapsed", lang),
            "eta": tr.t("train.progress.eta", lang),
            "probes": tr.t("train.progress.probes", lang)}


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


def method_chart_values(tr, lang: str, rows: list[dict]) -> list:
    """The method charts, each shown only when the run's rows hold its series."""
    labels = {name: tr.t(f"train.series.{name}", lang) for name in SERIES}
    frames = [charts.method_frame(rows, key, labels) for key, _ in METHOD_PLOTS]
    return [gr.update(value=None if f.empty else f, visible=not f.empty) for f in frames]


def snapshot(ctx, run_id: str, lang: str, seen: tuple = EMPTY) -> tuple[list, bool, Seen]:
    """(values for ``outputs``, whether the run is still active, the new ``seen`` marker);
    ``gr.skip()`` stands for a chart or table the page already shows."""
    tr = ctx.tr
    hidden = [gr.update(value=None, visible=False)] * len(METHOD_PLOTS)
    if not run_id:
        empty = [tr.t("train.no_run", lang), "", *([None] * len(PLOTS)), None, "", *hidden]
        return empty, False, EMPTY
    try:
        run = ctx.store.get(run_id)
    except FileNotFoundError:
        return [tr.t("train.run_gone", lang, run=run_id), "", *([gr.skip()] * len(PLOTS)),
                gr.skip(), "", *hidden], False, EMPTY
    seen = Seen(*seen)
    if (seen.run, seen.lang) != (run.id, lang):
        seen = EMPTY  # another run or language: everything is drawn afresh
    status = run.status()
    active = status.get("state", "") in ACTIVE
    texts = _texts(ctx, run, lang, status)
    plots, table, marker = _drawings(ctx, run, lang, seen, active)
    marker = marker._replace(texts=tuple(hash(t) for t in texts))
    base, extra = plots[:len(PLOTS)], plots[len(PLOTS):]
    return [texts[0], texts[1], *base, table, texts[2], *extra], active, marker


def _drawings(ctx, run, lang: str, seen: Seen, active: bool) -> tuple[list, object, Seen]:
    """The charts and the probe table, each ``gr.skip()`` unless due, and the new marker."""
    tr = ctx.tr
    rows, samples = run.metrics(), run.samples()
    now, fresh = time.time(), not seen.run
    charts_due = fresh or len(rows) != seen.rows and (
        not active or not seen.rows or now - seen.charts_at >= CHART_SECONDS)
    plots = ([*chart_values(tr, lang, rows), *method_chart_values(tr, lang, rows)]
             if charts_due else [gr.skip()] * (len(PLOTS) + len(METHOD_PLOTS)))
    table = (charts.samples_frame(samples, tr.t("train.samples.step", lang))
             if fresh or len(samples) != seen.rounds else gr.skip())
    marker = Seen(run.id, len(rows) if charts_due else seen.rows, len(samples), lang, (),
                  now if charts_due else seen.charts_at)
    return plots, table, marker


def _texts(ctx, run, lang: str, status: dict) -> list[str]:
    """The header, the progress bar and the log tail, as the page shows them."""
    tr = ctx.tr
    state = status.get("state", "")
    header = tr.t("train.run_header", lang, run=run.id, state=tr.t(f"runs.state.{state}", lang))
    # The page shows the user's message and the log's own lines, never a traceback or a server
    # path (log.txt keeps both for the operator).
    status = {**status, "error": page_text(status.get("error") or "", run) or None}
    return [header, charts.progress_html(status, status_texts(tr, lang, state)),
            run.page_log_tail(40)]


def changed(seen: tuple, now: Seen) -> bool:
    """Whether a poll found anything new since the one that left ``seen``."""
    seen = Seen(*seen)
    return (seen.run, seen.texts, seen.rounds) != (now.run, now.texts, now.rounds)
