"""The Scoring tab: score a model, or base vs tuned, on MMLU / C-Eval / CMMLU, side by side.

The form picks the benchmark and its folder, the subjects (grouped by category), shots, prompt
format (with a live preview of the exact prompt), a per-subject limit, dtype and the models. Start
hands a ``ScoringJob`` to the device arbiter (refused, with the reason, while a training run holds
the device) and a ``gr.Timer`` polls it once a second, so the page stays live, shows a progress
bar with ETA, and Stop keeps what was scored. Results (rendered by ``view``): a table with
per-subject and per-category accuracy and the delta, a bar chart by category, and the history of
past scores of the chosen run.
"""

from __future__ import annotations

import gradio as gr

from studio.engine.errors import USER_ERRORS, EvalDataError, PathError
from studio.engine.models import BUNDLED_ID
from studio.engine.scoring import evaluate as ev
from studio.engine.scoring import loading, prompts
from studio.engine.scoring.job import ScoringJob
from studio.ui.scoring import view

POLL_SECONDS = 1.0


def build(ctx) -> dict:
    tr = ctx.tr
    c = {}
    with gr.Row():
        c["bench"] = tr(gr.Radio, texts={"label": "scoring.benchmark"}, value="mmlu",
                        choices=[("MMLU", "mmlu"), ("C-Eval", "ceval"), ("CMMLU", "cmmlu")],
                        elem_id="scoring-benchmark", scale=2)
        c["data_dir"] = tr(gr.Textbox, texts={"label": "scoring.data_dir",
                                              "info": "scoring.data_dir.help"},
                           value=view.SAMPLES["mmlu"], elem_id="scoring-data-dir", scale=4)
        c["load"] = tr(gr.Button, texts={"value": "scoring.load"}, scale=1, min_width=120,
                       elem_id="scoring-load")
    c["quick"] = tr(gr.Radio, texts={"label": "scoring.quick"}, value="all",
                    choices=view.quick_choices(ctx, "en"), elem_id="scoring-quick")
    initial = view.initial_subjects(ctx)
    with gr.Row():
        c["groups"] = [tr(gr.CheckboxGroup, texts={"label": f"scoring.cat.{slug}"},
                          elem_id=f"scoring-subjects-{slug}", **initial[i])
                       for i, slug in enumerate(view.CAT_KEYS.values())]
    with gr.Row():
        c["shots"] = tr(gr.Slider, texts={"label": "scoring.shots"}, minimum=0, maximum=5,
                        step=1, value=5, elem_id="scoring-shots")
        c["fmt"] = tr(gr.Radio, texts={"label": "scoring.format", "info": "scoring.format.help"},
                      choices=list(prompts.FORMATS), value="plain", elem_id="scoring-format")
        c["limit"] = tr(gr.Number, texts={"label": "scoring.limit", "info": "scoring.limit.help"},
                        value=10, precision=0, minimum=0, elem_id="scoring-limit")
        c["dtype"] = tr(gr.Radio, texts={"label": "scoring.dtype", "info": "scoring.dtype.help"},
                        choices=list(loading.DTYPES[:3]), value="auto", elem_id="scoring-dtype")
    with tr(gr.Accordion, texts={"label": "scoring.preview"}, open=False):
        c["preview"] = gr.Textbox(lines=10, max_lines=18, interactive=False, show_label=False,
                                  elem_id="scoring-preview")
    with gr.Row():
        c["model"] = tr(gr.Textbox, texts={"label": "scoring.model", "info": "scoring.model.help"},
                        value=BUNDLED_ID, elem_id="scoring-model")
        c["run"] = tr(gr.Dropdown, texts={"label": "scoring.run", "info": "scoring.run.help"},
                      choices=view.runs_with_weights(ctx), value=None, allow_custom_value=True,
                      elem_id="scoring-run")
        c["other"] = tr(gr.Textbox, texts={"label": "scoring.other", "info": "scoring.other.help"},
                        value="", elem_id="scoring-other")
    with gr.Row():
        c["start"] = tr(gr.Button, texts={"value": "scoring.start"}, variant="primary",
                        elem_id="scoring-start")
        c["stop"] = tr(gr.Button, texts={"value": "scoring.stop"}, variant="stop",
                       elem_id="scoring-stop")
    c["message"] = gr.Markdown(elem_id="scoring-message")
    c["said"] = gr.State({})  # the message in every language, re-shown on a language switch
    c["progress"] = gr.HTML(elem_id="scoring-progress")
    # No y_lim: Gradio 6.31 redraws a BarPlot that has one empty and upside down when the
    # language switch re-renders the tab. The title is a Markdown line, translated with the page.
    tr(gr.Markdown, texts={"value": "scoring.chart"}, elem_id="scoring-chart-title")
    c["chart"] = gr.BarPlot(x="bar", y="accuracy", color="model",
                            x_label_angle=-30, height=320, x_title=" ", y_title="%",
                            show_label=False, elem_id="scoring-chart")
    tr.bind(c["chart"], color_title="scoring.chart.model")
    # Headers are the frames' columns, so a language switch sends the frames again (relabel).
    c["table"] = tr(gr.Dataframe, texts={"label": "scoring.table"}, interactive=False,
                    value=view.result_table(ctx, "en", {}), wrap=True, max_height=420,
                    elem_id="scoring-table")
    c["history"] = tr(gr.Dataframe, texts={"label": "scoring.history"}, interactive=False,
                      value=view.history_frame(ctx, None, "en"), max_height=260,
                      elem_id="scoring-history")
    c["job"] = gr.Textbox(visible=False, elem_id="scoring-job")  # not State: the API needs it
    c["timer"] = gr.Timer(POLL_SECONDS, active=False)
    _wire(ctx, c)
    return c


# --- helpers (plain functions, tested through the UI API)


def _wire(ctx, c: dict) -> None:
    lang = ctx.lang
    groups = c["groups"]

    def load(bench, data_dir, quick, lang_):
        try:
            return *view.subject_updates(ctx, bench, data_dir, quick), *view.say(lang_)
        except (EvalDataError, PathError) as exc:
            return (*[gr.update(choices=[], value=[]) for _ in groups],
                    *view.say(lang_, lambda lg, e=exc: f"⚠️ {ctx.tr.error(e, lg)}"))

    def switch(bench, data_dir, quick, lang_):
        if data_dir in view.SAMPLES.values():  # follow the sample exam; keep a user's own folder
            data_dir = view.SAMPLES[bench] or data_dir
        return data_dir, *load(bench, data_dir, quick, lang_)

    def preview(bench, data_dir, shots, fmt, model, lang_, *picked):
        keys = view.picked_subjects(picked)
        if not keys:
            return ""
        try:
            folder = view.resolve_data_dir(ctx, data_dir)
            entry = ev.plan(bench, folder, keys[:1], None, int(shots), 1)[0]
            tok = view.cached_tokenizer(view.resolve_model(ctx, model)) if fmt == "chat" else None
            return prompts.build_prompt(fmt, tok, bench, entry["subject"], entry["examples"],
                                   entry["questions"][0])
        except Exception as exc:  # a preview never blocks the form
            return f"({ctx.tr.error(exc, lang_)})"

    def start(bench, data_dir, shots, fmt, limit, dtype, model, run, other, lang_, *picked):
        keys = view.picked_subjects(picked)
        if not keys:
            text, said = view.say(lang_, lambda lg: ctx.t("scoring.msg.no_subjects", lg))
            return text, "", gr.Timer(active=False), said
        try:
            job = ScoringJob(view.comparison_sides(ctx, model, run, other), bench,
                             view.resolve_data_dir(ctx, data_dir),
                             keys, None, int(shots), fmt, int(limit or 0) or None, dtype,
                             str(ctx.store.root), str(ctx.workspace.writable("eval")))
            job.start(ctx.device)  # refused while training or scoring holds the device
        except (*USER_ERRORS, ValueError) as exc:
            text, said = view.say(lang_, lambda lg, e=exc: f"⚠️ {ctx.tr.error(e, lg)}")
            return text, "", gr.Timer(active=False), said
        text, said = view.say(lang_, lambda lg: ctx.t("scoring.msg.started", lg, n=job.total))
        return text, job.id, gr.Timer(active=True), said

    def job_of(job_id) -> ScoringJob | None:
        job = ctx.device.latest("scoring")  # results live on disk; only the latest is polled
        return job if job is not None and job.id == job_id else None

    def poll(job_id, run, lang_):
        job = job_of(job_id)
        if job is None:
            return (gr.skip(), gr.skip(), gr.skip(), view.history_frame(ctx, run, lang_),
                    gr.Timer(active=False))
        snap = job.snapshot()
        if isinstance(job.failure, USER_ERRORS):  # a user's mistake, in the page's language
            snap["error"] = ctx.tr.error(job.failure, lang_)
        if snap["state"] == "stopped":  # said under the bar: what is shown is not a final score
            snap["error"] = view.partial_notice(ctx, lang_, snap)
        return (view.progress_html(ctx, lang_, snap), view.result_table(ctx, lang_, job.results),
                view.chart_frame(ctx, lang_, job.results), view.history_frame(ctx, run, lang_),
                gr.Timer(active=job.running))

    def stop(job_id, lang_):
        job = job_of(job_id)
        if job and job.running:
            job.stop()
            return view.say(lang_, lambda lg: ctx.t("scoring.msg.stopping", lg))
        return view.say(lang_)

    def pick_run(run, model, lang_):
        if not run:
            return model, view.history_frame(ctx, None, lang_)
        try:
            base = ctx.store.get(run).config().model
        except Exception:  # a run without a readable config keeps the typed model
            base = model
        return base, view.history_frame(ctx, run, lang_)

    def relabel(job_id, run, said, lang_):
        """Everything handlers wrote, again in ``lang_``: the message, and the job's progress,
        table (its headers), chart and history; labels switch through ``ctx.tr``."""
        message = said.get(lang_, gr.skip()) if said else gr.skip()
        if job_of(job_id) is None:  # nothing scored on this page: the empty table's headers
            table = view.result_table(ctx, lang_, {}) if not job_id else gr.skip()
            return (message, gr.skip(), table, gr.skip(), view.history_frame(ctx, run, lang_),
                    gr.skip())
        return message, *poll(job_id, run, lang_)

    form = [c["bench"], c["data_dir"], c["quick"], lang]
    message = [c["message"], c["said"]]  # the message, and what it says in every language
    c["load"].click(load, form, [*groups, *message], api_name="scoring_subjects")
    c["bench"].change(switch, form, [c["data_dir"], *groups, *message])
    c["quick"].input(load, form, [*groups, *message])
    prev_in = [c["bench"], c["data_dir"], c["shots"], c["fmt"], c["model"], lang, *groups]
    for comp in (c["shots"], c["fmt"], *groups):
        comp.change(preview, prev_in, c["preview"], show_progress="hidden")
    c["start"].click(start, [c["bench"], c["data_dir"], c["shots"], c["fmt"], c["limit"],
                             c["dtype"], c["model"], c["run"], c["other"], lang, *groups],
                     [c["message"], c["job"], c["timer"], c["said"]], api_name="scoring_start",
                     concurrency_limit=1)  # two clicks must not start two jobs
    poll_out = [c["progress"], c["table"], c["chart"], c["history"], c["timer"]]
    c["timer"].tick(poll, [c["job"], c["run"], lang], poll_out, api_name="scoring_poll",
                    show_progress="hidden")
    c["stop"].click(stop, [c["job"], lang], message, api_name="scoring_stop")
    c["run"].change(pick_run, [c["run"], c["model"], lang], [c["model"], c["history"]])
    c["run"].focus(lambda: gr.update(choices=view.runs_with_weights(ctx)), None, c["run"])
    lang.change(lambda lang_: gr.update(choices=view.quick_choices(ctx, lang_)), lang, c["quick"],
                show_progress="hidden")
    lang.change(relabel, [c["job"], c["run"], c["said"], lang], [c["message"], *poll_out],
                show_progress="hidden")
    lang.change(preview, prev_in, c["preview"], show_progress="hidden")
