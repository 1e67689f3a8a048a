"""The Chat tab: the base and the tuned model answer side by side, or blind as A and B.

People pick a finished run (or an adapter folder) and ask once; both answers stream in two panes
with the same settings and seed. Each pane keeps its own history, held per browser session in a
``gr.State``. Blind mode shows the answers as A and B in an order drawn per conversation; a vote
goes to the workspace's preference dataset (``studio.engine.chat.votes``). All generation goes
through one shared ``ChatEngine``, so the base weights are in memory once for every tab and user.
This file lays the tab out and wires it (``handlers`` does the work); ``wire_compare`` lets the
Train and Runs tabs open a finished run here side by side, its first probe question ready.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.engine.chat.decode import Sampling
from studio.engine.chat.targets import finished_runs
from studio.ui.chat import feedback
from studio.ui.chat import handlers as h
from studio.ui.chat.view import (
    empty_state,
    pane_labels,
)
from studio.ui.train.live import EMPTY


@dataclass(frozen=True)
class ChatHandles:
    """What other tabs drive in the Chat tab ("Compare in chat")."""

    run: gr.Dropdown
    mode: gr.Radio
    msg: gr.Textbox
    feedback: feedback.FeedbackHandles  # "Train on my votes" hands its run to the Train tab


def build(ctx, demo: gr.Blocks, page: gr.Tab) -> ChatHandles:
    tr = ctx.tr
    engine = ctx.chat_engine
    state = gr.State(empty_state())
    tr(gr.Markdown, texts={"value": "chat.intro"}, elem_classes="studio-muted")
    with gr.Row(equal_height=False):
        with gr.Column(scale=4):
            with gr.Row(equal_height=False):
                run = tr(gr.Dropdown, texts={"label": "chat.run", "info": "chat.run_info"},
                         choices=h.run_choices(ctx, "en"), value=h.first_run(ctx), scale=3,
                         elem_id="chat-run")
                refresh = tr(gr.Button, texts={"value": "chat.refresh"}, size="sm", scale=0,
                             min_width=90)
                mode = gr.Radio(h.mode_choices(ctx, "en"), value="side", scale=3,
                                label=ctx.t("chat.mode"), elem_id="chat-mode")
                tr.bind(mode, label="chat.mode")
            notice = gr.Markdown(visible=False, elem_id="chat-notice")
            with gr.Row(equal_height=True):
                empty = ctx.t("chat.pane_empty")
                labels = pane_labels(ctx, engine, h.first_run(ctx), "", "side", "en")
                left = gr.Chatbot(height=440, placeholder=empty, elem_id="chat-left",
                                  label=labels[0], buttons=["copy"], feedback_options=None)
                right = gr.Chatbot(height=440, placeholder=empty, elem_id="chat-right",
                                   label=labels[1], buttons=["copy"], feedback_options=None)
                for pane in (left, right):  # labels name the models: set by ``h.relabel``
                    tr.bind(pane, placeholder="chat.pane_empty")
            with gr.Row(equal_height=True):
                msg = tr(gr.Textbox, texts={"placeholder": "chat.placeholder",
                                            "label": "chat.question"}, show_label=False,
                         scale=6, lines=1, max_lines=6, elem_id="chat-input", autofocus=True)
                send = tr(gr.Button, texts={"value": "chat.send"}, variant="primary", scale=1,
                          min_width=90, elem_id="chat-send")
                stop = tr(gr.Button, texts={"value": "chat.stop"}, variant="stop", scale=1,
                          min_width=90, interactive=False, elem_id="chat-stop")
                clear = tr(gr.Button, texts={"value": "chat.clear"}, scale=1, min_width=90)
            with gr.Row(visible=False, elem_id="chat-vote-row") as vote_row:
                tr(gr.Markdown, texts={"value": "chat.vote_prompt"})
                votes = {key: tr(gr.Button, texts={"value": f"chat.vote_{key}"}, size="sm")
                         for key in ("a", "b", "tie", "bad")}
            vote_note = gr.Markdown(visible=False, elem_id="chat-vote-note")
            stats = gr.Markdown(elem_classes="studio-muted", elem_id="chat-stats")
            loops_at = gr.Column()  # the feedback loops, built once the model picker exists
            examples = tr(gr.Dataset, texts={"label": "chat.examples"}, components=[msg],
                          samples=[[p] for p in h.examples_of(ctx, engine, h.first_run(ctx))],
                          samples_per_page=8, elem_id="chat-examples")
        with gr.Column(scale=1, min_width=270):
            with tr(gr.Accordion, texts={"label": "chat.settings"}, open=True):
                model = tr(gr.Dropdown, texts={"label": "chat.model", "info": "chat.model_info"},
                           choices=h.model_choices(), value=h.run_model(ctx, h.first_run(ctx)),
                           allow_custom_value=True)
                adapter = tr(gr.Textbox, texts={"label": "chat.adapter",
                                                "info": "chat.adapter_info"}, max_lines=1)
                system = tr(gr.Textbox, texts={"label": "chat.system", "info": "chat.system_info"},
                            lines=2, value=h.run_system(ctx, h.first_run(ctx)))
            with tr(gr.Accordion, texts={"label": "chat.sampling"}, open=True):
                d = Sampling()
                knobs = [
                    tr(gr.Slider, texts={"label": "chat.max_new_tokens"}, minimum=16,
                       maximum=2048, step=16, value=d.max_new_tokens),
                    tr(gr.Slider, texts={"label": "chat.temperature"}, minimum=0, maximum=2,
                       step=0.05, value=d.temperature),
                    tr(gr.Slider, texts={"label": "chat.top_p"}, minimum=0.05, maximum=1,
                       step=0.05, value=d.top_p),
                    tr(gr.Slider, texts={"label": "chat.top_k"}, minimum=0, maximum=200,
                       step=1, value=d.top_k),
                    tr(gr.Slider, texts={"label": "chat.repetition_penalty"}, minimum=1,
                       maximum=2, step=0.05, value=d.repetition_penalty),
                    tr(gr.Number, texts={"label": "chat.seed", "info": "chat.seed_info"},
                       value=d.seed, precision=0, minimum=0),
                ]
    with loops_at:
        loops = feedback.build(ctx, run, model)
    lang = ctx.lang
    view = [left, right, state, vote_row, vote_note, stats]

    def reset(run_id, adapter_dir, mode_value, lang_value):
        labels = pane_labels(ctx, engine, run_id, adapter_dir, mode_value, lang_value)
        return (gr.update(value=[], label=labels[0]),
                gr.update(value=[], label=labels[1], visible=mode_value in ("side", "blind")),
                empty_state(), gr.update(visible=False), gr.update(visible=False), "")

    def pick(run_id, adapter_dir, mode_value, lang_value):
        return (*reset(run_id, adapter_dir, mode_value, lang_value),
                gr.update(value=h.run_model(ctx, run_id)), h.run_system(ctx, run_id),
                gr.update(samples=[[p] for p in h.examples_of(ctx, engine, run_id)]),
                h.notice(ctx, engine, run_id, adapter_dir, lang_value))

    picked = [*view, model, system, examples, notice]
    quiet = {"show_progress": "hidden", "api_visibility": "private"}
    run.change(pick, [run, adapter, mode, lang], picked, api_name="chat_pick",
               show_progress="hidden")
    adapter.submit(pick, [run, adapter, mode, lang], picked, **quiet)
    mode.change(reset, [run, adapter, mode, lang], view, **quiet)
    lang.change(lambda lv: gr.update(choices=h.mode_choices(ctx, lv)), lang, mode, **quiet)
    # The answers stay; labels and what handlers said come back in the new language.
    relabel_in = [run, adapter, mode, state, notice, lang]
    lang.change(lambda *args: h.relabel(ctx, engine, *args), relabel_in,
                [left, right, stats, vote_note, notice], **quiet)
    # Runs finished since the page opened are listed whenever the tab is shown, so a run that
    # just ended on the Train tab is one click away; the pick is kept unless it was deleted.
    for event in (demo.load, page.select, refresh.click, lang.change):
        event(lambda current, lv: h.fresh_runs(ctx, current, lv), [run, lang], run, **quiet)
    clear.click(reset, [run, adapter, mode, lang], view, api_name="chat_clear",
                show_progress="hidden")
    examples.click(lambda sample: sample[0], examples, msg, **quiet)
    for pane in (left, right):  # a pane's own trash icon starts the conversation over too
        pane.clear(reset, [run, adapter, mode, lang], view, **quiet)

    def answer(text, st, mode_value, run_id, adapter_dir, model_id, system_prompt,
               max_new, temperature, top_p, top_k, rep, seed, lang_value,
               request: gr.Request):
        yield from h.answer_stream(ctx, engine, text, st, mode_value, run_id, adapter_dir, model_id,
                           system_prompt, Sampling(int(max_new), float(temperature),
                                                   float(top_p), int(top_k), float(rep),
                                                   int(seed or 0)),
                           lang_value, request.session_hash if request else "")

    inputs = [msg, state, mode, run, adapter, model, system, *knobs, lang]
    outputs = [left, right, msg, state, vote_row, vote_note, stats, notice, send, stop]
    send.click(answer, inputs, outputs, api_name="chat_send", show_progress="hidden",
               concurrency_limit=4)
    msg.submit(answer, inputs, outputs, concurrency_limit=4, **quiet)
    stop.click(h.stop_stream, None, None, api_name="chat_stop", show_progress="hidden")

    def vote(choice, st, run_id, adapter_dir, model_id, system_prompt, max_new, temperature,
             top_p, top_k, rep, seed, lang_value):
        settings = (int(max_new), float(temperature), float(top_p), int(top_k), float(rep),
                    int(seed or 0))
        return h.record(ctx, choice, st, run_id or adapter_dir, model_id, system_prompt,
                     settings, lang_value)

    for key, button in votes.items():
        button.click(vote, [gr.State(key), state, run, adapter, model, system, *knobs, lang],
                     [vote_row, vote_note, stats, state], api_name=f"chat_vote_{key}",
                     show_progress="hidden")
    return ChatHandles(run=run, mode=mode, msg=msg, feedback=loops)


def wire_votes_run(ctx, tabs: gr.Tabs, chat: ChatHandles, train) -> None:
    """A run started by "Train on my votes" opens in the Train tab's live view."""
    chat.feedback.started.change(
        lambda run_id: (gr.Tabs(selected="train"), run_id, EMPTY) if run_id else
        (gr.skip(), gr.skip(), gr.skip()), chat.feedback.started,
        [tabs, train.watch, train.seen], show_progress="hidden",
        api_visibility="private").then(**train.poll, api_visibility="private")


def wire_compare(ctx, tabs: gr.Tabs, chat: ChatHandles, button: gr.Button, source) -> None:
    """``button`` opens this tab side by side on the run named in ``source``, with the run's
    first probe prompt ready to send (one click from a finished run to both answers)."""

    def compare(run_id, lang):
        finished = {r.id for r in finished_runs(ctx.store)}
        if run_id not in finished:
            gr.Warning(ctx.t("chat.compare_unfinished", lang, run=run_id or "-"))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        first = next(iter(h.examples_of(ctx, ctx.chat_engine, run_id)), "")
        return (gr.Tabs(selected="chat"), gr.update(choices=h.run_choices(ctx, lang),
                                                    value=run_id),
                "side", first)

    button.click(compare, [source, ctx.lang], [tabs, chat.run, chat.mode, chat.msg],
                 show_progress="hidden", api_visibility="private")
