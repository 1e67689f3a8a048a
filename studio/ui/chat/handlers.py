"""What the Chat tab's events do, apart from the layout: answer, stop, vote, and the pickers.

``answer_stream`` streams the base and tuned answers into the panes through the shared
``ChatEngine`` (at most ~25 page updates a second), ``stop_stream`` ends the asking session's
stream, ``record`` saves a blind vote, and the rest list the runs, models, modes and example
questions the tab offers and the notice shown while a job holds the device. A failed answer, a
user's mistake or a fault mid-stream alike, always ends with Send enabled and the reason shown, so
the page never needs a reload. Every function takes the context and returns plain values or
``gr.update``s, so each is testable without a server.
"""

from __future__ import annotations

import logging
import threading
import time

import gradio as gr

from studio.engine.chat.targets import active_training, example_prompts, finished_runs
from studio.engine.chat.votes import BlindPair, preference_path, record_vote, tally
from studio.engine.errors import USER_ERRORS, ChatError, VoteError
from studio.ui.chat.view import (
    MODES,
    pane_labels,
    panes,
    sides_for,
    stats_line,
    tally_line,
    wait_for_memory,
)
from studio.ui.i18n import said

STOPS: dict[str, threading.Event] = {}  # per browser session: the Stop button's signal
STREAM_EVERY_S = 0.04  # push at most ~25 updates a second; tokens still arrive one by one
log = logging.getLogger(__name__)


def answer_stream(ctx, engine, text, st, mode, run_id, adapter_dir, model_id, system, sampling,
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
        if model_id and model_id != run_model(ctx, run_id):  # a run's own base is trusted
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
        yield failed(ctx, exc, st, mode, text, lang)
        return
    except Exception as exc:  # a fault mid-answer (a device error, a bug): the page stays usable
        log.exception("chat answer failed")
        yield failed(ctx, ChatError("chat_failed", detail=_first_line(exc)), st, mode, text, lang)
        return
    stats = said(lambda lg: stats_line(ctx, last, mode, lg))
    st = {**st, **{s: [*convs[s], {"role": "assistant", "content": last.texts[s]}]
                   for s in sides}, "voted": False, "said": {"stats": stats}}
    show_vote = mode == "blind" and not any(f == "stopped" for f in last.finish.values())
    yield (*panes(st, mode), "", st, gr.update(visible=show_vote), hidden,
           stats.get(lang, stats["en"]), notice_update(ctx, engine, target, lang), *idle)


def relabel(ctx, engine, run_id, adapter_dir, mode, st, shown_notice, lang) -> tuple:
    """The pane labels, stats line, vote note and notice in ``lang``; the answers stay."""
    labels = pane_labels(ctx, engine, run_id, adapter_dir, mode, lang)
    texts = (st or {}).get("said", {})

    def again(name):
        return gr.update(value=texts[name].get(lang, texts[name]["en"])) if texts.get(name) \
            else gr.skip()

    if texts.get("notice"):
        notice_ = again("notice")
    elif shown_notice:  # what the pick's notice says (training active, no tuned model, ...)
        notice_ = notice(ctx, engine, run_id, adapter_dir, lang)
    else:
        notice_ = gr.skip()
    return (gr.update(label=labels[0]), gr.update(label=labels[1]), again("stats"),
            again("vote_note"), notice_)


def failed(ctx, exc, st, mode, text, lang) -> tuple:
    """The tab's outputs after a failed turn: the panes as before the question, the question kept
    in the box, the reason in the notice, Send enabled and Stop disabled."""
    hidden = gr.update(visible=False)
    reason = said(lambda lg, e=exc: f"⚠️ {ctx.tr.error(e, lg)}")
    st = {**st, "said": {"notice": reason}}  # shown again, translated, on a language switch
    return (*panes(st, mode), text, st, hidden, hidden, "",
            gr.update(value=reason.get(lang, reason["en"]), visible=True),
            gr.update(interactive=True), gr.update(interactive=False))


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def stop_stream(request: gr.Request) -> None:
    event = STOPS.get(request.session_hash if request else "")
    if event:
        event.set()


def record(ctx, choice, st, run_or_adapter, model_id, system, settings, lang):
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
        reason = said(lambda lg, e=exc: f"⚠️ {ctx.tr.error(e, lg)}")
        return (gr.update(), gr.update(value=reason.get(lang, reason["en"]), visible=True),
                gr.skip(), {**st, "said": {**st.get("said", {}), "vote_note": reason}})
    path = preference_path(ctx.workspace).relative_to(ctx.workspace.root)

    def note_in(lg):
        saved = (ctx.t("chat.vote_pair_saved", lg, path=path) if row["pair_saved"]
                 else ctx.t("chat.vote_counted", lg))
        return ctx.t("chat.vote_saved", lg, a=ctx.t(f"chat.side_{pair.a}", lg),
                     b=ctx.t(f"chat.side_{pair.b}", lg), saved=saved)

    counts = tally(ctx.workspace, run_or_adapter or None)
    note, line = said(note_in), said(lambda lg: tally_line(ctx, counts, lg))
    return (gr.update(visible=False), gr.update(value=note.get(lang, note["en"]), visible=True),
            line.get(lang, line["en"]),
            {**st, "voted": True, "said": {"vote_note": note, "stats": line}})


# ---------------------------------------------------------------------------- pickers


def run_choices(ctx, lang: str = "en") -> list[tuple[str, str]]:
    def label(run) -> str:  # the id and how the run ended, in ``lang``
        return f"{run.id} · {ctx.t('chat.run_state.' + str(run.status().get('state')), lang)}"

    return [*[(label(r), r.id) for r in finished_runs(ctx.store)],
            (ctx.t("chat.no_run", lang), "")]


def fresh_runs(ctx, current: str, lang: str = "en"):
    choices = run_choices(ctx, lang)
    ids = [run_id for _, run_id in choices]
    return gr.update(choices=choices, value=current if current in ids else ids[0])


def first_run(ctx) -> str:
    runs = finished_runs(ctx.store)
    return runs[0].id if runs else ""


def run_model(ctx, run_id: str) -> str:
    from studio.engine.models import BUNDLED_ID

    try:
        return ctx.store.get(run_id).config().model if run_id else BUNDLED_ID
    except Exception:  # a run deleted meanwhile or a damaged config: fall back to the default
        return BUNDLED_ID


def run_system(ctx, run_id: str) -> str:
    try:
        return ctx.store.get(run_id).config().system_prompt if run_id else ""
    except Exception:
        return ""


def model_choices() -> list[str]:
    from studio.engine.models import known_models

    return known_models()


def mode_choices(ctx, lang: str) -> list[tuple[str, str]]:
    return [(ctx.t(f"chat.mode_{m}", lang), m) for m in MODES]


def examples_of(ctx, engine, run_id: str) -> list[str]:
    try:
        return example_prompts(engine.target(None, run_id), ctx.workspace) if run_id else []
    except Exception:  # examples are a convenience; a broken run still lets people chat
        return []


def notice(ctx, engine, run_id, adapter_dir, lang):
    try:
        target = engine.target(run_model(ctx, run_id) if not run_id else None,
                               (adapter_dir or "").strip() or run_id or None)
    except USER_ERRORS as exc:  # a wrong pick (or a run deleted meanwhile): say which
        return gr.update(value=f"⚠️ {ctx.tr.error(exc, lang)}", visible=True)
    return notice_update(ctx, engine, target, lang)


def notice_update(ctx, engine, target, lang):
    active = active_training(ctx.jobs, ctx.store)
    if active is not None:
        return gr.update(value=ctx.t("chat.training_active", lang, run=active), visible=True)
    if not target.has_tuned:
        return gr.update(value=ctx.t("chat.no_tuned", lang), visible=True)
    return gr.update(value="", visible=False)
