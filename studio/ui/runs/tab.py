"""The Runs tab: every run with its status; open one, compare several, clone, resume, delete.

The list and each run's view are read from the run folders, so runs started from the CLI or
another browser appear too, and runs a server restart ``interrupted`` show so and offer Resume.
Opening a run reuses the Train tab's live view (it keeps updating while that run trains or its
forgetting check runs, whose card offers to run a skipped check again);
comparing overlays smoothed loss curves and lists only the config fields that differ. Clone fills
the Train form (``TrainHandles``) and switches to it; Resume hands the run to the Train tab's live
view.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.engine.errors import USER_ERRORS
from studio.engine.runs import RESUMABLE
from studio.ui import charts, forgetting_card
from studio.ui.runs import view as rv
from studio.ui.train import live as train_live
from studio.ui.train.actions import dataset_path, exam_dirs
from studio.ui.train.form import config_to_values
from studio.ui.train.tab import PRIVATE, TrainHandles


@dataclass(frozen=True)
class RunsHandles:
    """What other tabs use of the Runs tab."""

    pick: gr.Dropdown  # the run being viewed
    compare: gr.Button  # "Compare in chat" for it (wired by the Chat tab)


def build(ctx, demo: gr.Blocks, tabs: gr.Tabs, train: TrainHandles) -> RunsHandles:
    tr = ctx.tr
    with gr.Row():
        pick = tr(gr.Dropdown, texts={"label": "runs.pick", "info": "runs.pick.help"},
                  choices=[r.id for r in ctx.store.list()], scale=4, elem_id="runs-pick",
                  allow_custom_value=True)  # runs appear after the page loaded; ids checked
        refresh = tr(gr.Button, texts={"value": "runs.refresh"}, scale=1, min_width=100,
                     size="sm")
    table = tr(gr.Dataframe, texts={"label": "runs.table"}, interactive=False, wrap=True,
               max_height=300, elem_id="runs-table")
    with gr.Row():
        clone = tr(gr.Button, texts={"value": "runs.clone"}, elem_id="runs-clone")
        compare_chat = tr(gr.Button, texts={"value": "chat.compare"}, elem_id="runs-compare-chat")
        resume = tr(gr.Button, texts={"value": "runs.resume"}, visible=False,
                    elem_id="runs-resume")
        delete = tr(gr.Button, texts={"value": "runs.delete"}, variant="stop",
                    elem_id="runs-delete")
    with gr.Row(visible=False, elem_id="runs-confirm-row") as confirm_row:
        confirm_text = gr.Markdown()
        confirm = tr(gr.Button, texts={"value": "runs.delete.confirm"}, variant="stop",
                     elem_id="runs-delete-confirm")
        cancel = tr(gr.Button, texts={"value": "runs.delete.cancel"})
    message = gr.Markdown(elem_id="runs-message")
    with gr.Tabs():
        with tr(gr.Tab, texts={"label": "runs.view.charts"}):
            view = train_live.build_live(ctx, prefix="runs")
        with tr(gr.Tab, texts={"label": "runs.view.config"}):
            config = gr.Code(language="yaml", interactive=False, elem_id="runs-config")
        with tr(gr.Tab, texts={"label": "runs.view.files"}):
            files = gr.Markdown(elem_id="runs-files")
        with tr(gr.Tab, texts={"label": "runs.view.compare"}, elem_id="runs-compare-tab"):
            compare = tr(gr.Dropdown, texts={"label": "runs.compare", "info": "runs.compare.help"},
                         choices=[r.id for r in ctx.store.list()], multiselect=True,
                         allow_custom_value=True, elem_id="runs-compare")
            overlay = tr(gr.LinePlot, texts={"label": "runs.compare.chart",
                                             "x_title": "train.samples.step"},
                         x="step", y="value", color="series", height=300,
                         y_title=" ", color_title=" ", elem_id="runs-overlay")
            diff = tr(gr.Dataframe, texts={"label": "runs.compare.diff"}, interactive=False,
                      wrap=True, elem_id="runs-diff")
    parts = dict(pick=pick, refresh=refresh, table=table, clone=clone, resume=resume,
                 delete=delete, confirm_row=confirm_row, confirm_text=confirm_text,
                 confirm=confirm, cancel=cancel, message=message, view=view, config=config,
                 files=files, compare=compare, overlay=overlay, diff=diff,
                 seen=gr.State(train_live.EMPTY), timer=gr.Timer(3.0, active=False))
    _wire(ctx, demo, tabs, train, parts)
    return RunsHandles(pick=pick, compare=compare_chat)


def _handlers(ctx, train: TrainHandles):
    tr = ctx.tr

    def listing(lang, current):
        ids = [r.id for r in ctx.store.list()]
        keep = current if current in ids else None
        return (rv.runs_table(tr, lang, ctx.store), gr.update(choices=ids, value=keep),
                gr.update(choices=ids))

    def open_run(run_id, lang, seen):
        values, active, now = train_live.snapshot(ctx, run_id, lang, seen)
        card, checking = forgetting_card.values(ctx, run_id, lang)  # polled while it checks
        try:
            run = ctx.store.get(run_id)
        except (FileNotFoundError, TypeError):
            return *values, "", "", gr.update(visible=False), gr.Timer(active=False), now, \
                *card
        state = run.status().get("state")
        try:
            yaml_text = (run.path / "config.yaml").read_text(encoding="utf-8")
        except OSError:  # deleted from another browser meanwhile
            yaml_text = ""
        return (*values, yaml_text, rv.files_markdown(tr, lang, run),
                gr.update(visible=state in RESUMABLE), gr.Timer(active=active or checking), now,
                *card)

    def clone(run_id, lang):
        n = len(train.form)
        try:
            cfg = ctx.store.get(run_id).config()
        except (*USER_ERRORS, TypeError) as exc:
            why = tr.t("runs.msg.pick_first", lang) if not run_id else tr.error(exc, lang)
            return f"⚠ {why}", gr.skip(), *([gr.skip()] * n)
        return (tr.t("runs.msg.cloned", lang, run=run_id), gr.Tabs(selected="train"),
                *config_to_values(cfg))

    def resume(run_id, lang):
        try:
            cfg = ctx.store.get(run_id).config()
            run = ctx.jobs.resume(run_id, dataset_path(ctx.workspace, cfg),
                                  exam_dirs(ctx.workspace, cfg, strict=False))
        except (*USER_ERRORS, TypeError) as exc:
            return f"⚠ {tr.error(exc, lang)}", gr.skip(), gr.skip()
        return tr.t("runs.msg.resumed", lang, run=run.id), run.id, train_live.EMPTY

    def ask_delete(run_id, lang):
        if not run_id:
            return gr.update(visible=False), "", tr.t("runs.msg.pick_first", lang)
        return gr.update(visible=True), tr.t("runs.delete.ask", lang, run=run_id), ""

    def do_delete(run_id, lang):
        try:
            checking = ctx.jobs.checking(run_id) if run_id else None
            if checking is not None:  # its check must not write into a folder being removed
                checking.stop()
                checking.join(10)
            ctx.store.delete(run_id)
        except (*USER_ERRORS, TypeError) as exc:
            return gr.update(visible=False), f"⚠ {tr.error(exc, lang)}"
        return gr.update(visible=False), tr.t("runs.msg.deleted", lang, run=run_id)

    def compare_runs(run_ids, lang):
        run_ids = run_ids or []
        metrics = {}
        for run_id in run_ids:
            try:
                metrics[run_id] = ctx.store.get(run_id).metrics()
            except FileNotFoundError:
                continue
        overlay = charts.overlay_frame(metrics)  # None when empty: see train_live.chart_values
        return (None if overlay.empty else overlay), rv.config_diff(tr, lang, ctx.store, run_ids)

    def select_row(evt: gr.SelectData):
        row = evt.row_value or []
        return row[0] if row else gr.skip()

    return {k: v for k, v in locals().items() if callable(v)}


def _wire(ctx, demo: gr.Blocks, tabs: gr.Tabs, train: TrainHandles, p: dict) -> None:
    h = _handlers(ctx, train)
    lang = ctx.lang
    list_out = [p["table"], p["pick"], p["compare"]]
    open_io = {"fn": h["open_run"], "inputs": [p["pick"], lang, p["seen"]],
               "outputs": [*train_live.outputs(p["view"]), p["config"], p["files"], p["resume"],
                           p["timer"], p["seen"], *forgetting_card.outputs(p["view"])],
               "show_progress": "hidden"}
    refresh = p["refresh"].click(h["listing"], [lang, p["pick"]], list_out, api_name="runs_list")
    refresh.then(**open_io, **PRIVATE)
    demo.load(h["listing"], [lang, p["pick"]], list_out, **PRIVATE)
    lang.change(h["listing"], [lang, p["pick"]], list_out, **PRIVATE).then(**open_io, **PRIVATE)
    p["pick"].change(lambda: train_live.EMPTY, None, p["seen"], **PRIVATE).then(
        **open_io, api_name="run_open")
    p["timer"].tick(**open_io, **PRIVATE)
    p["table"].select(h["select_row"], None, p["pick"], **PRIVATE)
    p["clone"].click(h["clone"], [p["pick"], lang], [p["message"], tabs, *train.form.values()],
                     api_name="run_clone")
    _wire_resume(ctx, train, p, h, list_out)
    forgetting_card.wire(ctx, p["view"], p["pick"], "run_forgetting_rerun", then=open_io)
    p["delete"].click(h["ask_delete"], [p["pick"], lang],
                      [p["confirm_row"], p["confirm_text"], p["message"]], **PRIVATE)
    p["cancel"].click(lambda: gr.update(visible=False), None, p["confirm_row"], **PRIVATE)
    p["confirm"].click(h["do_delete"], [p["pick"], lang], [p["confirm_row"], p["message"]],
                       api_name="run_delete").then(h["listing"], [lang, p["pick"]], list_out,
                                                   **PRIVATE)
    p["compare"].change(h["compare_runs"], [p["compare"], lang], [p["overlay"], p["diff"]],
                        api_name="runs_compare")


def _wire_resume(ctx, train: TrainHandles, p: dict, h: dict, list_out: list) -> None:
    """Resume here, then let the Train tab's live view follow the run."""
    outs = [p["message"], train.watch, train.seen]
    event = p["resume"].click(h["resume"], [p["pick"], ctx.lang], outs, api_name="run_resume",
                              concurrency_limit=1)
    event = event.then(**train.poll, **PRIVATE)
    event.then(h["listing"], [ctx.lang, p["pick"]], list_out, **PRIVATE)
