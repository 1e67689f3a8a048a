"""The Chat tab's feedback loops: "Train on my votes" and the AI judge.

Votes cast in blind mode on a run become, in one click, a DPO run that continues that run
(``studio.engine.feedback.from_votes``); the app hands the new run to the Train tab's live view.
The AI judge samples two answers per question from the picked run (or the base model), has a
judge (the same run, the base model, or any OpenAI-compatible endpoint) pick the better one in
both orders, and writes the pairs it is sure of to a new dataset to review in the Data tab. It
runs on the device like a training run (``JudgeJob``), so the page may close meanwhile; a timer
shows its progress while it works.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr

from studio.engine.data.store import list_datasets, resolve_source
from studio.engine.errors import USER_ERRORS, JudgeError
from studio.engine.feedback.from_votes import votes_config
from studio.engine.feedback.judge import GRADING_PROMPT, JudgeJob, JudgeSpec
from studio.ui.train.actions import user_error

PRIVATE = {"api_visibility": "private", "show_progress": "hidden"}
JUDGES = ("answerer", "base", "endpoint")


@dataclass(frozen=True)
class FeedbackHandles:
    started: gr.Textbox  # the id of a run "Train on my votes" started (hidden)


def build(ctx, run: gr.Dropdown, model: gr.Dropdown) -> FeedbackHandles:
    """Lay out both loops under the chat; ``run`` and ``model`` are the tab's own pickers."""
    tr = ctx.tr
    with gr.Row(equal_height=True, elem_id="chat-votes-train-row"):
        train_votes = tr(gr.Button, texts={"value": "chat.train_votes"}, size="sm", scale=0,
                         min_width=200, elem_id="chat-train-votes")
        votes_msg = gr.Markdown(elem_id="chat-train-votes-msg")
    started = gr.Textbox(visible=False, elem_id="chat-votes-run")
    with tr(gr.Accordion, texts={"label": "judge.title"}, open=False, elem_id="chat-judge"):
        tr(gr.Markdown, texts={"value": "judge.intro"}, elem_classes="studio-muted")
        with gr.Row(equal_height=True):
            dataset = tr(gr.Dropdown, texts={"label": "judge.dataset"},
                         choices=list_datasets(ctx.workspace), value="assets/identity.json",
                         allow_custom_value=True, scale=3, elem_id="judge-dataset")
            count = tr(gr.Number, texts={"label": "judge.count"}, value=10, precision=0,
                       scale=1, elem_id="judge-count")
            kind = tr(gr.Radio, texts={"label": "judge.kind"}, value="answerer", scale=3,
                      choices=[(ctx.t(f"judge.kind.{k}"), k) for k in JUDGES],
                      elem_id="judge-kind")
        with gr.Row(equal_height=True, visible=False) as endpoint_row:
            url = tr(gr.Textbox, texts={"label": "judge.url", "placeholder": "judge.url_hint"},
                     scale=3, elem_id="judge-url")
            key = tr(gr.Textbox, texts={"label": "judge.key"}, type="password", scale=2,
                     elem_id="judge-key")
            judge_model = tr(gr.Textbox, texts={"label": "judge.model"}, scale=2,
                             elem_id="judge-model")
        prompt = tr(gr.Textbox, texts={"label": "judge.prompt"}, value=GRADING_PROMPT, lines=6,
                    elem_id="judge-prompt")
        with gr.Row(equal_height=True):
            go = tr(gr.Button, texts={"value": "judge.start"}, variant="primary", scale=0,
                    min_width=160, elem_id="judge-start")
            stop = tr(gr.Button, texts={"value": "judge.stop"}, scale=0, min_width=100)
            status = gr.Markdown(elem_id="judge-status")
    timer = gr.Timer(2.0, active=False)
    lang = ctx.lang

    train_votes.click(lambda run_id, lv: start_votes_run(ctx, run_id, lv), [run, lang],
                      [votes_msg, started], api_name="chat_train_votes", concurrency_limit=1)
    kind.change(lambda k: gr.update(visible=k == "endpoint"), kind, endpoint_row, **PRIVATE)
    lang.change(lambda lv: gr.update(choices=[(ctx.t(f"judge.kind.{k}", lv), k) for k in JUDGES]),
                lang, kind, **PRIVATE)
    inputs = [dataset, count, kind, url, key, judge_model, prompt, run, model, lang]
    go.click(lambda *a: start_judge(ctx, *a), inputs, [status, timer], api_name="chat_judge",
             concurrency_limit=1)
    stop.click(lambda lv: stop_judge(ctx, lv), lang, status, **PRIVATE)
    timer.tick(lambda lv: judge_status(ctx, lv), lang, [status, timer],
               api_name="chat_judge_status", show_progress="hidden")
    return FeedbackHandles(started=started)


# ------------------------------------------------------------------------------- votes
def start_votes_run(ctx, run_id: str, lang: str):
    """(message, started run id): a DPO run on the votes cast for ``run_id``."""
    try:
        cfg, path = votes_config(ctx.workspace, ctx.store, run_id)
        started = ctx.jobs.start(cfg, str(path))
    except USER_ERRORS as exc:
        return user_error(ctx.tr, lang, exc), ""
    shown = path.relative_to(ctx.workspace.root)
    return ctx.t("chat.train_votes_started", lang, run=started.id, path=str(shown)), started.id


# ------------------------------------------------------------------------------- judge
def start_judge(ctx, dataset, count, kind, url, key, judge_model, prompt, run_id, model_id,
                lang):
    spec = JudgeSpec(dataset=str(dataset or ""), answerer=run_id or "",
                     model=model_id or "smollm2-135m-instruct", judge=kind or "answerer",
                     url=url or "", api_key=key or "", judge_model=judge_model or "",
                     grading_prompt=prompt or GRADING_PROMPT, max_prompts=int(count or 0))
    try:
        problems = spec.problems()
        if problems:
            raise JudgeError(problems)
        spec.dataset = resolve_source(ctx.workspace, spec.dataset)
        out = ctx.workspace.datasets_dir / f"judged-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
        ctx.jobs.device.start(JudgeJob(spec, ctx.chat_engine, out))
    except USER_ERRORS as exc:
        return user_error(ctx.tr, lang, exc), gr.Timer(active=False)
    return ctx.t("judge.started", lang), gr.Timer(active=True)


def stop_judge(ctx, lang: str) -> str:
    job = ctx.jobs.device.stop("judge")
    return ctx.t("judge.stopping" if job else "judge.nothing", lang)


def judge_status(ctx, lang: str):
    """(status line, timer): progress while the judge works, the result once it is done."""
    job = ctx.jobs.device.latest("judge")
    if job is None:
        return "", gr.Timer(active=False)
    j = job.judging
    shown = job.out_path.relative_to(ctx.workspace.root)
    if job.error:
        text = f"⚠ {job.error}"
    else:
        key = "judge.done" if job.finished else "judge.progress"
        text = ctx.t(key, lang, done=j.done, total=j.total or "?", kept=j.kept, path=str(shown))
    return text, gr.Timer(active=not job.finished)
