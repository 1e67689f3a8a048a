"""The Chat tab: the base and the tuned model answer side by side, or blind as A and B.

People pick a finished run (or an adapter folder) and ask once; both answers stream in two panes
with the same settings and seed. Each pane keeps its own history, held per browser session in a
``gr.State``. Blind mode shows the answers as A and B in an order drawn per conversation; a vote
goes to the workspace's preference dataset (``studio.engine.chat.votes``). All generation goes
through one shared ``ChatEngine``, so the base weights are in memory once for every tab and user.
"""

from __future__ import annotations

import threading
import time

import gradio as gr

from studio.engine.chat.decode import Sampling
from studio.engine.chat.targets import active_training, example_prompts, finished_runs
from studio.engine.chat.votes import BlindPair, preference_path, record_vote, tally
from studio.engine.errors import USER_ERRORS, VoteError
from studio.ui.chat.view import (
    MODES,
    empty_state,
    pane_labels,
    panes,
    sides_for,
    stats_line,
    tally_line,
    wait_for_memory,
)

STOPS: dict[str, threading.Event] = {}  # per browser session: the Stop button's signal
STREAM_EVERY_S = 0.04  # push at most ~25 updates a second; tokens still arrive one by one


def build(ctx, demo: gr.Blocks, page: gr.Tab) -> None:
    tr = ctx.tr
    engine = ctx.chat_engine
    state = gr.State(empty_state())
    tr(gr.Markdown, texts={"value": "chat.intro"}, elem_classes="studio-muted")
    with gr.Row(equal_height=False):
        with gr.Column(scale=4):
            with gr.Row(equal_height=False):
                run = tr(gr.Dropdown, texts={"label": "chat.run", "info": "chat.run_info"},
                         choices=_run_choices(ctx), value=_first_run(ctx), scale=3,
                         elem_id="chat-run")
                refresh = tr(gr.Button, texts={"value": "chat.refresh"}, size="sm", scale=0,
                             min_width=90)
                mode = gr.Radio(_mode_choices(ctx, "en"), value="side", scale=3,
                                label=ctx.t("chat.mode"), elem_id="chat-mode")
                tr.bind(mode, label="chat.mode")
            notice = gr.Markdown(visible=False, elem_id="chat-notice")
            with gr.Row(equal_height=True):
                empty = ctx.t("chat.pane_empty")
                labels = pane_labels(ctx, engine, _first_run(ctx), "", "side", "en")
                left = gr.Chatbot(height=440, placeholder=empty, elem_id="chat-left",
                                  label=labels[0], buttons=["copy"], feedback_options=None)
                right = gr.Chatbot(height=440, placeholder=empty, elem_id="chat-right",
                                   label=labels[1], buttons=["copy"], feedback_options=None)
            with gr.Row(equal_height=True):
                msg = tr(gr.Textbox, texts={"placeholder": "chat.placeholder"}, show_label=False,
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
            examples = tr(gr.Dataset, texts={"label": "chat.examples"}, components=[msg],
                          samples=[[p] for p in _examples(ctx, engine, _first_run(ctx))],
                          samples_per_page=8, elem_id="chat-examples")
        with gr.Column(scale=1, min_width=270):
            with tr(gr.Accordion, texts={"label": "chat.settings"}, open=True):
                model = tr(gr.Dropdown, texts={"label": "chat.model", "info": "chat.model_info"},
                           choices=_models(), value=_run_model(ctx, _first_run(ctx)),
                           allow_custom_value=True)
                adapter = tr(gr.Textbox, texts={"label": "chat.adapter",
                                                "info": "chat.adapter_info"}, max_lines=1)
                system = tr(gr.Textbox, texts={"label": "chat.system", "info": "chat.system_info"},
                            lines=2, value=_run_system(ctx, _first_run(ctx)))
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
    lang = ctx.lang
    view = [left, right, state, vote_row, vote_note, stats]

    def reset(run_id, adapter_dir, mode_value, lang_value):
        labels = pane_labels(ctx, engine, run_id, adapter_dir, mode_value, lang_value)
        return (gr.update(value=[], label=labels[0]),
                gr.update(value=[], label=labels[1], visible=mode_value in ("side", "blind")),
                empty_state(), gr.update(visible=False), gr.update(visible=False), "")

    def pick(run_id, adapter_dir, mode_value, lang_value):
        return (*reset(run_id, adapter_dir, mode_value, lang_value),
                gr.update(value=_run_model(ctx, run_id)), _run_system(ctx, run_id),
                gr.update(samples=[[p] for p in _examples(ctx, engine, run_id)]),
                _notice(ctx, engine, run_id, adapter_dir, lang_value))

    picked = [*view, model, system, examples, notice]
    quiet = {"show_progress": "hidden", "api_visibility": "private"}
    run.change(pick, [run, adapter, mode, lang], picked, api_name="chat_pick",
               show_progress="hidden")
    adapter.submit(pick, [run, adapter, mode, lang], picked, **quiet)
    mode.change(reset, [run, adapter, mode, lang], view, **quiet)
    lang.change(lambda lv: gr.update(choices=_mode_choices(ctx, lv)), lang, mode, **quiet)
    # Runs finished since the page opened are listed whenever the tab is shown, so a run that
    # just ended on the Train tab is one click away; the pick is kept unless it was deleted.
    for event in (demo.load, page.select, refresh.click):
        event(lambda current: _fresh_runs(ctx, current), run, run, **quiet)
    clear.click(reset, [run, adapter, mode, lang], view, api_name="chat_clear",
                show_progress="hidden")
    examples.click(lambda sample: sample[0], examples, msg, **quiet)
    for pane in (left, right):  # a pane's own trash icon starts the conversation over too
        pane.clear(reset, [run, adapter, mode, lang], view, **quiet)

    def answer(text, st, mode_value, run_id, adapter_dir, model_id, system_prompt,
               max_new, temperature, top_p, top_k, rep, seed, lang_value,
               request: gr.Request):
        yield from _answer(ctx, engine, text, st, mode_value, run_id, adapter_dir, model_id,
                           system_prompt, Sampling(int(max_new), float(temperature),
                                                   float(top_p), int(top_k), float(rep),
                                                   int(seed or 0)),
                           lang_value, request.session_hash if request else "")

    inputs = [msg, state, mode, run, adapter, model, system, *knobs, lang]
    outputs = [left, right, msg, state, vote_row, vote_note, stats, notice, send, stop]
    send.click(answer, inputs, outputs, api_name="chat_send", show_progress="hidden",
               concurrency_limit=4)
    msg.submit(answer, inputs, outputs, concurrency_limit=4, **quiet)
    stop.click(_stop, None, None, api_name="chat_stop", show_progress="hidden")

    def vote(choice, st, run_id, adapter_dir, model_id, system_prompt, max_new, temperature,
             top_p, top_k, rep, seed, lang_value):
        settings = (int(max_new), float(temperature), float(top_p), int(top_k), float(rep),
                    int(seed or 0))
        return _vote(ctx, choice, st, run_id or adapter_dir, model_id, system_prompt,
                     settings, lang_value)

    for key, button in votes.items():
        button.click(vote, [gr.State(key), state, run, adapter, model, system, *knobs, lang],
                     [vote_row, vote_note, stats, state], api_name=f"chat_vote_{key}",
                     show_progress="hidden")


# ---------------------------------------------------------------------------- handlers


def _answer(ctx, engine, text, st, mode, run_id, adapter_dir, model_id, system, sampling,
            lang, session):
    """Stream one turn into the panes; yields the tab's outputs after each burst of tokens."""
    text = (text or "").strip()
    busy = (gr.update(interactive=False), gr.update(interactive=True))
    idle = (gr.update(interactive=True), gr.update(interactive=False))
    hidden = gr.update(visible=False)
    if not text:
        yield (gr.skip(),) * 8 + idle
        return
    stop = STOPS.setdefault(session, threading.Event())
    stop.clear()
    sides = sides_for(mode)
    convs = {s: [*st[s], {"role": "user", "content": text}] for s in sides}
    try:
        model_id = (model_id or "").strip() or None
        if model_id and model_id != _run_model(ctx, run_id):  # a run's own base is trusted
            model_id = ctx.workspace.model_source(model_id)
        target = engine.target(model_id, (adapter_dir or "").strip() or run_id or None)
        for note in wait_for_memory(ctx, engine, target, stop, lang):
            yield (*panes(st, mode, convs), "", st, hidden, hidden, "", note, *busy)
        last, pushed = None, 0.0
        for last in engine.stream(convs, target=target, sides=sides, sampling=sampling,
                                  system=system, stop=stop):
            if time.monotonic() - pushed >= STREAM_EVERY_S or last.done:
                pushed = time.monotonic()
                yield (*panes(st, mode, convs, last.texts), "", st, hidden, hidden, "",
                       gr.skip(), *busy)
    except USER_ERRORS as exc:  # a wrong pick: say so, keep the question
        yield (*panes(st, mode), text, st, hidden, hidden, "",
               gr.update(value=f"⚠️ {ctx.tr.error(exc, lang)}", visible=True), *idle)
        return
    st = {**st, **{s: [*convs[s], {"role": "assistant", "content": last.texts[s]}]
                   for s in sides}, "voted": False}
    show_vote = mode == "blind" and not any(f == "stopped" for f in last.finish.values())
    yield (*panes(st, mode), "", st, gr.update(visible=show_vote), hidden,
           stats_line(ctx, last, mode, lang), _notice_update(ctx, engine, target, lang), *idle)


def _stop(request: gr.Request) -> None:
    event = STOPS.get(request.session_hash if request else "")
    if event:
        event.set()


def _vote(ctx, choice, st, run_or_adapter, model_id, system, settings, lang):
    if st.get("voted") or not st.get("pair"):  # one vote per blind answer pair
        return gr.update(visible=False), gr.skip(), gr.skip(), st
    choice = "both_bad" if choice == "bad" else choice
    pair = BlindPair(*st["pair"])
    prompt = [m for m in st[pair.side(choice) if choice in ("a", "b") else "tuned"][:-1]]
    if system:
        prompt = [{"role": "system", "content": system}, *prompt]
    answers = {s: st[s][-1]["content"] if st[s] else None for s in ("base", "tuned")}
    keys = ("max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed")
    meta = {"run_id": run_or_adapter or None, "model": model_id, **dict(zip(keys, settings,
                                                                          strict=True))}
    try:
        row = record_vote(ctx.workspace, choice, pair, prompt, answers, meta)
    except VoteError as exc:
        return (gr.update(), gr.update(value=f"⚠️ {ctx.tr.error(exc, lang)}", visible=True),
                gr.skip(), st)
    saved = (ctx.t("chat.vote_pair_saved", lang,
                   path=preference_path(ctx.workspace).relative_to(ctx.workspace.root))
             if row["pair_saved"] else ctx.t("chat.vote_counted", lang))
    note = ctx.t("chat.vote_saved", lang, a=ctx.t(f"chat.side_{pair.a}", lang),
                 b=ctx.t(f"chat.side_{pair.b}", lang), saved=saved)
    counts = tally(ctx.workspace, run_or_adapter or None)
    return (gr.update(visible=False), gr.update(value=note, visible=True),
            tally_line(ctx, counts, lang), {**st, "voted": True})


# ---------------------------------------------------------------------------- pickers


def _run_choices(ctx) -> list[tuple[str, str]]:
    runs = [(f"{r.id} · {r.status().get('state')}", r.id) for r in finished_runs(ctx.store)]
    return [*runs, (ctx.t("chat.no_run"), "")]


def _fresh_runs(ctx, current: str):
    choices = _run_choices(ctx)
    ids = [run_id for _, run_id in choices]
    return gr.update(choices=choices, value=current if current in ids else ids[0])


def _first_run(ctx) -> str:
    runs = finished_runs(ctx.store)
    return runs[0].id if runs else ""


def _run_model(ctx, run_id: str) -> str:
    from studio.engine.models import BUNDLED_ID

    try:
        return ctx.store.get(run_id).config().model if run_id else BUNDLED_ID
    except Exception:  # a run deleted meanwhile or a damaged config: fall back to the default
        return BUNDLED_ID


def _run_system(ctx, run_id: str) -> str:
    try:
        return ctx.store.get(run_id).config().system_prompt if run_id else ""
    except Exception:
        return ""


def _models() -> list[str]:
    from studio.engine.models import known_models

    return known_models()


def _mode_choices(ctx, lang: str) -> list[tuple[str, str]]:
    return [(ctx.t(f"chat.mode_{m}", lang), m) for m in MODES]


def _examples(ctx, engine, run_id: str) -> list[str]:
    try:
        return example_prompts(engine.target(None, run_id), ctx.workspace) if run_id else []
    except Exception:  # examples are a convenience; a broken run still lets people chat
        return []


def _notice(ctx, engine, run_id, adapter_dir, lang):
    try:
        target = engine.target(_run_model(ctx, run_id) if not run_id else None,
                               (adapter_dir or "").strip() or run_id or None)
    except USER_ERRORS as exc:  # a wrong pick (or a run deleted meanwhile): say which
        return gr.update(value=f"⚠️ {ctx.tr.error(exc, lang)}", visible=True)
    return _notice_update(ctx, engine, target, lang)


def _notice_update(ctx, engine, target, lang):
    active = active_training(ctx.jobs, ctx.store)
    if active is not None:
        return gr.update(value=ctx.t("chat.training_active", lang, run=active), visible=True)
    if not target.has_tuned:
        return gr.update(value=ctx.t("chat.no_tuned", lang), visible=True)
    return gr.update(value="", visible=False)
