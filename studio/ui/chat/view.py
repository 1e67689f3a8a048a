"""What the Chat tab shows, kept apart from its layout: panes, labels, stats, tally, waiting.

A session's chat state is ``{"base": [...], "tuned": [...], "pair": [a, b], "voted": bool}``:
one message history per model (each pane continues its own conversation) and, for blind mode,
which model is shown as A and which as B, drawn once per conversation so a pane never changes
model mid-chat.
"""

from __future__ import annotations

import time

import gradio as gr

from studio.engine.chat.targets import active_training, available_memory
from studio.engine.chat.votes import BlindPair

MODES = ("side", "tuned", "base", "blind")
WAIT_POLL_S = 2.0


def empty_state() -> dict:
    pair = BlindPair.draw()
    return {"base": [], "tuned": [], "pair": [pair.a, pair.b], "voted": False}


def sides_for(mode: str) -> tuple[str, ...]:
    return {"tuned": ("tuned",), "base": ("base",)}.get(mode, ("base", "tuned"))


def _shown(state: dict, mode: str) -> tuple[str, str | None]:
    """Which model each pane shows: (left, right); right is None in single modes."""
    if mode == "blind":
        return state["pair"][0], state["pair"][1]
    if mode in ("tuned", "base"):
        return mode, None
    return "base", "tuned"


def panes(state: dict, mode: str, convs: dict | None = None,
          texts: dict | None = None) -> tuple[list, list]:
    """The two chatbots' messages; ``convs``/``texts`` add the turn being written."""
    def show(side):
        if side is None:
            return []
        if convs is None:
            return state[side]
        reply = (texts or {}).get(side, "")
        return [*convs[side], {"role": "assistant", "content": reply or "…"}]

    left, right = _shown(state, mode)
    return show(left), show(right)


def pane_labels(ctx, engine, run_id: str, adapter_dir: str, mode: str,
                lang: str) -> tuple[str, str]:
    if mode == "blind":
        return ctx.t("chat.pane_a", lang), ctx.t("chat.pane_b", lang)
    try:
        target = engine.target(None if run_id else _default_model(), adapter_dir or run_id)
        model, tuned = target.model_id, target.run_id or target.label
    except Exception:  # the notice explains a bad pick; the labels just stay generic
        model, tuned = _default_model(), "—"
    base = ctx.t("chat.pane_base", lang, model=model)
    tuned_label = ctx.t("chat.pane_tuned", lang, run=tuned)
    return {"tuned": (tuned_label, ""), "base": (base, "")}.get(mode, (base, tuned_label))


def _default_model() -> str:
    from studio.engine.models import BUNDLED_ID

    return BUNDLED_ID


def stats_line(ctx, update, mode: str, lang: str) -> str:
    """Speed of the answers just written, one figure per model; blind mode names neither."""
    parts = []
    for side, stats in update.stats.items():
        if stats["ttft_s"] is None:
            continue
        speed = f"{stats['tokens_per_s']:.1f}" if stats["tokens_per_s"] else "–"
        line = ctx.t("chat.stats", lang, ttft=f"{stats['ttft_s']:.2f}", speed=speed,
                     tokens=stats["tokens"])
        if mode == "blind":  # token counts per side would give the answer away
            line = ctx.t("chat.stats_blind", lang, ttft=f"{stats['ttft_s']:.2f}")
        elif len(update.stats) > 1:
            line = f"{ctx.t(f'chat.side_{side}', lang).capitalize()}: {line}"
        parts.append(line)
    if any(f == "stopped" for f in update.finish.values()):
        parts.append(ctx.t("chat.stopped", lang))
    return "  |  ".join(dict.fromkeys(parts))


def tally_line(ctx, counts: dict, lang: str) -> str:
    return ctx.t("chat.tally", lang, **{k: counts[k] for k in ("tuned", "base", "tie",
                                                                "both_bad")})


def wait_for_memory(ctx, engine, target, stop, lang):
    """While a training job holds the memory the chat needs, yield a notice every poll."""
    while not stop.is_set():
        active = active_training(ctx.jobs, ctx.store)
        need = engine.missing_bytes(target) * 1.2  # weights plus room for activations
        free = available_memory()
        if active is None or not need or free >= need:
            return
        yield gr.update(visible=True, value=ctx.t("chat.waiting_memory", lang, run=active,
                                                  need=f"{need / 1e9:.1f}",
                                                  free=f"{free / 1e9:.1f}"))
        time.sleep(WAIT_POLL_S)
