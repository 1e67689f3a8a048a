"""The Train tab: presets, the generated form, checks and estimate, Start/Stop/Resume, live view.

The form is built from ``TrainConfig`` (``form``); Start turns it into a config (``form_config``,
the one place the operator's own settings are filled in), checks it and hands it to the
``JobManager``, which judges model, data and memory before any run folder exists, then trains on
a worker thread. From then on the page only reads the run folder: a ``gr.Timer`` polls it every
four seconds while a run is active (every eight after a poll that found nothing new, so a model
loading or a probe round costs the page even less), and on page load the tab picks up the active
(or latest) run, so a reopened tab or a second browser sees the same live run. ``build`` returns
``TrainHandles`` (the form, the watched run and its poll) for the Runs tab, which clones runs
into the form and hands resumed runs to this live view.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio.engine.chat.targets import finished_runs
from studio.engine.data.store import list_datasets
from studio.engine.errors import USER_ERRORS
from studio.engine.runs import ACTIVE, RESUMABLE, page_text
from studio.engine.train import presets
from studio.engine.train.config import TrainConfig, load_yaml
from studio.engine.train.estimate import estimate
from studio.engine.workspace import PRESETS
from studio.ui import forgetting_card
from studio.ui.data.tab import DataHandles
from studio.ui.train import actions as act
from studio.ui.train import form as tf
from studio.ui.train import live

# Every event the page runs costs its browser a pass over each output's loading status (the
# largest share of the page's CPU in a Chromium profile while a run trained, more than drawing
# the charts), on the cores the training uses: a step takes seconds on a CPU, so one poll
# every few seconds still shows every step.
POLL_SECONDS = 4.0
IDLE_POLL_SECONDS = 8.0  # after a poll that found nothing new: model loading, probes, a save
PRIVATE = {"api_visibility": "private"}  # page plumbing, not part of the studio's API


def _default_preset(choices: list[tuple[str, str]]) -> str | None:
    for _, path in choices:
        if path.endswith("identity-lora.yaml"):
            return path
    return choices[0][1] if choices else None


def preset_about(ctx, path: Path, lang: str) -> str:
    """What a preset is for, in ``lang``: the shipped presets are translated (locales/
    presets.yaml); a user's own preset shows the note its author saved with it."""
    if path.parent.resolve() == PRESETS.resolve():
        return ctx.tr.t(f"preset.{path.stem}", lang)
    return presets.describe_preset(path)


@dataclass(frozen=True)
class TrainHandles:
    """What other tabs use of the Train tab."""

    form: dict  # field name -> component, in FORM_FIELDS order
    watch: gr.Textbox  # the id of the run the live view follows
    seen: gr.State  # what the live view has drawn so far (reset to follow another run)
    poll: dict  # the live view's refresh event (fn, inputs, outputs), to chain after a resume
    compare: gr.Button  # "Compare in chat" for the watched run (wired by the Chat tab)


def build(ctx, demo: gr.Blocks, data: DataHandles) -> TrainHandles:
    tr = ctx.tr
    choices = presets.list_presets(ctx.workspace)
    first = _default_preset(choices)
    with gr.Row(elem_id="train-preset-row"):
        with gr.Column(scale=3, min_width=300):
            preset = tr(gr.Dropdown, texts={"label": "train.preset", "info": "train.preset.help"},
                        choices=choices, value=first, elem_id="train-preset",
                        allow_custom_value=True)  # presets saved later join the list; checked
            load_btn = tr(gr.Button, texts={"value": "train.preset.load"}, size="sm",
                          variant="secondary", elem_id="train-load-preset")
        with gr.Column(scale=7):
            preset_info = gr.Markdown(preset_about(ctx, Path(first), "en") if first else "",
                                      elem_classes=["studio-muted"], elem_id="train-preset-info")
    with gr.Row():
        with gr.Column(scale=5, min_width=380, elem_id="train-form"):
            form, boxes = tf.build_form(ctx, list_datasets(ctx.workspace),
                                        continuable_runs(ctx))
            save = _build_save(ctx)
        with gr.Column(scale=6, min_width=440, elem_id="train-live"):
            with gr.Row():
                check_btn = tr(gr.Button, texts={"value": "train.check"}, elem_id="train-check")
                start_btn = tr(gr.Button, texts={"value": "train.start"}, variant="primary",
                               elem_id="train-start")
                stop_btn = tr(gr.Button, texts={"value": "train.stop"}, variant="stop",
                              elem_id="train-stop")
                resume_btn = tr(gr.Button, texts={"value": "train.resume"},
                                elem_id="train-resume")
                compare_btn = tr(gr.Button, texts={"value": "chat.compare"},
                                 elem_id="train-compare")
            message = gr.Markdown(elem_id="train-message")
            estimate_md = gr.Markdown(elem_id="train-estimate", elem_classes=["studio-card"])
            view = live.build_live(ctx)
            with tr(gr.Accordion, texts={"label": "train.headless"}, open=False,
                    elem_id="train-headless"):
                tr(gr.Markdown, texts={"value": "train.headless.help"},
                   elem_classes=["studio-muted"])
                command = tr(gr.Code, texts={"label": "train.headless.command"},
                             language="shell", interactive=False, elem_id="train-command")
                yaml_code = tr(gr.Code, texts={"label": "train.headless.yaml"}, language="yaml",
                               interactive=False, elem_id="train-yaml")
    watch = gr.Textbox(visible=False, elem_id="train-watch")
    seen = gr.State(live.EMPTY)
    timer = gr.Timer(POLL_SECONDS, active=False)
    parts = {"form": form, "boxes": boxes, "preset": preset, "preset_info": preset_info,
             "load_btn": load_btn, "check": check_btn, "start": start_btn, "stop": stop_btn,
             "resume": resume_btn, "compare": compare_btn, "message": message,
             "estimate": estimate_md, "view": view,
             "command": command, "yaml": yaml_code, "watch": watch, "seen": seen,
             "timer": timer, **save}
    poll = _wire(ctx, demo, data, parts)
    return TrainHandles(form=form, watch=watch, seen=seen, poll=poll, compare=compare_btn)


def _build_save(ctx) -> dict:
    tr = ctx.tr
    with tr(gr.Accordion, texts={"label": "train.save_preset"}, open=False,
            elem_id="train-save-preset"):
        with gr.Row(equal_height=True):
            name = tr(gr.Textbox, texts={"label": "train.save_preset.name"}, scale=2,
                      elem_id="train-save-name")
            note = tr(gr.Textbox, texts={"label": "train.save_preset.note"}, scale=3)
        button = tr(gr.Button, texts={"value": "train.save_preset.button"})
        msg = gr.Markdown()
    return {"save_name": name, "save_note": note, "save_btn": button, "save_msg": msg}


# ------------------------------------------------------------------------------- handlers
def continuable_runs(ctx) -> list[str]:
    """Finished runs with a LoRA adapter: what ``start_from`` can continue."""
    return [r.id for r in finished_runs(ctx.store)
            if (r.adapter_dir / "adapter_config.json").exists()]


def start_from_picked(ctx, run_id: str):
    """Picking a run to continue sets the model to that run's base (the only one it fits)."""
    try:
        return gr.update(value=ctx.store.get(run_id).config().model) if run_id else gr.skip()
    except USER_ERRORS:  # a typed id that is no run: Start says so
        return gr.skip()


def button_states(ctx, run_id: str) -> tuple:
    """Start, Stop, Resume and Compare in chat, each usable only when pressing it can act:
    Start while no run trains, Stop while the watched run does, Resume on a watched run that
    can continue once the device is free, Compare once the run has saved weights."""
    try:
        run = ctx.store.get(run_id) if run_id else None
    except USER_ERRORS:
        run = None  # deleted from the Runs tab
    state = run.status().get("state", "") if run else ""
    free = ctx.jobs.active() is None
    return (gr.update(interactive=free), gr.update(interactive=state in ACTIVE),
            gr.update(interactive=free and state in RESUMABLE),
            gr.update(interactive=state not in ACTIVE and run is not None and
                      run.weights_dir is not None))


def form_config(ctx, values) -> TrainConfig:
    """The form's values as a config, with what only the operator decides filled in: whether the
    model may run its own code comes from the launch flag, never from a request."""
    cfg = tf.values_to_config(values)
    cfg.trust_remote_code = ctx.workspace.trusts_remote_code(cfg.model)
    cfg.allow_code = ctx.workspace.allow_code
    return cfg


def _handlers(ctx):
    tr = ctx.tr
    n = len(tf.FORM_FIELDS)

    def load_preset(path, lang):
        try:
            p = presets.preset_path(ctx.workspace, path)
            cfg = load_yaml(p)
        except USER_ERRORS as exc:
            return [gr.skip()] * n + [gr.skip(), act.user_error(tr, lang, exc)]
        done = tr.t("train.msg.preset_loaded", lang, preset=p.stem)
        return [*tf.config_to_values(cfg), preset_about(ctx, p, lang), done]

    def describe(path, lang):
        try:
            return preset_about(ctx, presets.preset_path(ctx.workspace, path), lang)
        except USER_ERRORS:
            return ""

    def check(*args):
        *values, lang = args
        try:
            cfg = form_config(ctx, values)
            errors = act.problems(ctx.workspace, cfg)
            if errors:
                return act.format_errors(tr, lang, errors), ""
            est = estimate(cfg, act.dataset_path(ctx.workspace, cfg), ctx.store)
        except USER_ERRORS as exc:
            return act.user_error(tr, lang, exc), ""
        except Exception as exc:  # an estimate must never take the page down
            return f"⚠ {tr.t('train.msg.no_estimate', lang)}: {page_text(str(exc))}", ""
        return f"✓ {tr.t('train.msg.ready', lang)}", act.estimate_text(tr, lang, est)

    def start(*args):
        *values, lang = args
        keep = (gr.skip(), gr.skip(), gr.skip())
        try:
            cfg = form_config(ctx, values)
            errors = act.problems(ctx.workspace, cfg, deep=False)  # the job manager looks deeper
            if errors:
                return act.format_errors(tr, lang, errors), *keep
            run = ctx.jobs.start(cfg, act.dataset_path(ctx.workspace, cfg),
                                 act.exam_dirs(ctx.workspace, cfg))
        except USER_ERRORS as exc:  # a busy device included: the message names the job
            return act.user_error(tr, lang, exc), *keep
        return tr.t("train.msg.started", lang, run=run.id), run.id, gr.Timer(active=True), \
            live.EMPTY

    def stop(run_id, lang):
        if ctx.jobs.stop(run_id or None):
            return tr.t("train.msg.stopping", lang)
        return tr.t("train.msg.nothing_to_stop", lang)

    def resume(run_id, lang):
        keep = (gr.skip(), gr.skip(), gr.skip())
        if not run_id:
            return tr.t("train.msg.nothing_to_resume", lang), *keep
        try:
            cfg = ctx.store.get(run_id).config()
            run = ctx.jobs.resume(run_id, act.dataset_path(ctx.workspace, cfg),
                                  act.exam_dirs(ctx.workspace, cfg, strict=False))
        except USER_ERRORS as exc:
            return act.user_error(tr, lang, exc), *keep
        return tr.t("train.msg.resumed", lang, run=run.id), run.id, gr.Timer(active=True), \
            live.EMPTY

    def poll(run_id, lang, seen):
        values, active, now = live.snapshot(ctx, run_id, lang, seen)
        card, checking = forgetting_card.values(ctx, run_id, lang)  # polled while it checks
        active = active or checking
        every = POLL_SECONDS if live.changed(seen, now) else IDLE_POLL_SECONDS
        return *values, gr.Timer(every, active=active), now, *card, *button_states(ctx, run_id)

    def on_load():
        active = ctx.jobs.active() or next(iter(ctx.store.list()), None)
        return active.id if active else ""

    def headless(path, *values):
        try:
            preset = str(presets.preset_path(ctx.workspace, path)) if path else None
        except USER_ERRORS:
            preset = None  # a typed name that is not a preset: show the plain command
        try:
            return act.headless(form_config(ctx, values), preset)
        except USER_ERRORS as exc:
            return f"# {tr.error(exc)}", gr.skip()

    def save_preset(name, note, *args):
        *values, lang = args
        try:
            saved = presets.save_preset(ctx.workspace, name, form_config(ctx, values), note)
        except USER_ERRORS as exc:
            return act.user_error(tr, lang, exc), gr.skip()
        choices = presets.list_presets(ctx.workspace)
        shown = saved.relative_to(ctx.workspace.root)  # where in the workspace, not the disk
        return (tr.t("train.msg.preset_saved", lang, path=str(shown)),
                gr.update(choices=choices, value=str(saved)))

    return {k: v for k, v in locals().items() if callable(v) and not k.startswith("_")}


def _wire(ctx, demo: gr.Blocks, data: DataHandles, p: dict) -> dict:
    h = _handlers(ctx)
    form = list(p["form"].values())
    lang, watch, seen, timer = ctx.lang, p["watch"], p["seen"], p["timer"]
    buttons = [p["start"], p["stop"], p["resume"], p["compare"]]
    poll_io = {"fn": h["poll"], "inputs": [watch, lang, seen],
               "outputs": [*live.outputs(p["view"]), timer, seen,
                           *forgetting_card.outputs(p["view"]), *buttons],
               "show_progress": "hidden"}
    timer.tick(**poll_io, api_name="poll")  # first, so it owns the name "poll"
    p["load_btn"].click(h["load_preset"], [p["preset"], lang],
                        [*form, p["preset_info"], p["message"]], api_name="load_preset")
    for chosen in (p["preset"], lang):  # a preset picked, or the language switched
        chosen.change(h["describe"], [p["preset"], lang], p["preset_info"],
                      show_progress="hidden", **PRIVATE)
    p["check"].click(h["check"], [*form, lang], [p["message"], p["estimate"]], api_name="check")
    started = [p["message"], watch, timer, seen]
    p["start"].click(h["start"], [*form, lang], started, api_name="start",
                     concurrency_limit=1).then(**poll_io, **PRIVATE)
    p["stop"].click(h["stop"], [watch, lang], p["message"], api_name="stop")
    p["resume"].click(h["resume"], [watch, lang], started, api_name="resume",
                      concurrency_limit=1).then(**poll_io, **PRIVATE)
    forgetting_card.wire(ctx, p["view"], watch, "forgetting_rerun", then=poll_io)
    ctx.lang.change(**poll_io, **PRIVATE)
    loaded = demo.load(h["on_load"], None, watch, **PRIVATE)
    start_from = p["form"]["start_from"]
    demo.load(lambda: gr.update(choices=["", *continuable_runs(ctx)]), None, start_from,
              show_progress="hidden", **PRIVATE)
    start_from.input(lambda run_id: start_from_picked(ctx, run_id), start_from,
                     p["form"]["model"], show_progress="hidden", **PRIVATE)
    loaded = loaded.then(**poll_io, **PRIVATE)
    loaded.then(h["headless"], [p["preset"], *form], [p["command"], p["yaml"]],
                show_progress="hidden", api_name=False)
    kinds = [p["form"]["method"], p["form"]["finetuning_type"]]
    vis = [p["boxes"]["lora"], p["boxes"]["rewards"],
           *(p["form"][name] for name in tf.VISIBILITY_FIELDS)]
    gr.on([c.change for c in kinds], tf.visibility, kinds, vis, show_progress="hidden",
          **PRIVATE)
    gr.on([c.change for c in form], h["headless"], [p["preset"], *form],
          [p["command"], p["yaml"]], trigger_mode="always_last", show_progress="hidden",
          api_name="headless", queue=False)
    p["save_btn"].click(h["save_preset"], [p["save_name"], p["save_note"], *form, lang],
                        [p["save_msg"], p["preset"]], api_name="save_preset")
    # A dataset saved in the Data tab is offered (and picked) here.
    data.saved_path.change(lambda path: gr.update(choices=list_datasets(ctx.workspace),
                                                  **({"value": path} if path else {})),
                           data.saved_path, p["form"]["dataset"], show_progress="hidden",
                           **PRIVATE)
    return poll_io
