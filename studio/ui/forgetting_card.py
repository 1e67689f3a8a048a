"""The forgetting-check card of a run, shown in the Train tab's live view and the Runs tab.

``card_html`` turns a run folder's ``forgetting.json`` (``studio.engine.scoring.forgetting``) into
the card in the page's language: waiting for training, checking with progress, the accuracy of
base and tuned per exam and overall with the change and its p-value and the verdict in plain
words, or why the check was skipped or failed. ``values`` is what a poll returns for ``outputs``
(the card, and the "run it again" button shown for a skipped or failed check), and whether the
check is still under way, so the poll keeps its timer running until the result is in. ``wire``
connects the button to ``JobManager.check_forgetting``.
"""

from __future__ import annotations

import html

import gradio as gr

from studio.engine.errors import USER_ERRORS
from studio.engine.runs import page_text
from studio.engine.scoring.forgetting import exam_dirs, read_record, reason_from

VERDICT_COLORS = {"no_loss": "#16a34a", "gained": "#16a34a", "lost": "#dc2626",
                  "changed": "#d97706"}
UNDER_WAY = ("pending", "running")
# Cells without the page's own table borders: a light rule under each row reads as a card.
CELL = "border:none;border-bottom:1px solid rgba(128,128,128,0.25);padding:2px 10px 2px 0;"


def build(ctx, prefix: str) -> dict:
    """The card and its button, inside the current layout (empty until a run has a check);
    the keys join the live view's components."""
    card = gr.HTML(elem_id=f"{prefix}-forgetting")
    rerun = ctx.tr(gr.Button, texts={"value": "forgetting.rerun"}, size="sm", visible=False,
                   elem_id=f"{prefix}-forgetting-rerun")
    return {"forgetting": card, "forgetting_rerun": rerun}


def outputs(c: dict) -> list:
    return [c["forgetting"], c["forgetting_rerun"]]


def values(ctx, run_id: str, lang: str, note: str = "") -> tuple[list, bool]:
    """([card, button update], whether the check is under way) for the run ``run_id``."""
    try:
        run = ctx.store.get(run_id) if run_id else None
    except (*USER_ERRORS, TypeError):
        run = None
    record = read_record(run) if run is not None else None
    offer = bool(record and record.get("state") in ("skipped", "failed")
                 and run.weights_dir() is not None)
    text = card_html(ctx.tr, lang, record, note) if record or note else ""
    return [text, gr.update(visible=offer)], bool(record and record.get("state") in UNDER_WAY)


def card_html(tr, lang: str, record: dict | None, note: str = "") -> str:
    """The card for one ``forgetting.json`` record (None: only ``note``)."""
    state = (record or {}).get("state", "")
    body = {"pending": _pending, "running": _running, "done": _done,
            "skipped": _ended, "failed": _ended}.get(state, lambda *_: "")(tr, lang, record)
    extra = f'<div style="margin-top:6px;color:#b91c1c">{html.escape(note)}</div>' if note \
        else ""
    # Inline styles, as the progress bar: the card must look right under any stylesheet.
    return (f'<div class="studio-card studio-forgetting state-{html.escape(state)}" '
            'style="margin:6px 0">'
            f'<div style="font-weight:600;margin-bottom:4px">'
            f'{html.escape(tr.t("forgetting.title", lang))}</div>{body}{extra}</div>')


def _p(value: float) -> str:
    return f"{value:.2g}"


def _pending(tr, lang, record) -> str:
    return f"<div>{html.escape(tr.t('forgetting.pending', lang))}</div>"


def _running(tr, lang, record) -> str:
    done, total = record.get("done") or 0, record.get("total") or 0
    pct = 100.0 * done / total if total else 0.0
    count = f" {done}/{total}" if total else ""
    return (f"<div>{html.escape(tr.t('forgetting.running', lang))}{count}</div>"
            '<div style="height:6px;border-radius:3px;background:rgba(128,128,128,0.2);'
            'overflow:hidden;margin-top:4px">'
            f'<div style="width:{pct:.1f}%;height:100%;background:#6366f1"></div></div>')


def _ended(tr, lang, record) -> str:
    reason = record.get("reason")
    why = page_text(tr.reason(reason_from(reason), lang)) if reason else ""
    text = tr.t(f"forgetting.{record['state']}", lang, reason=why)
    return f"<div>{html.escape(text)}</div>"


def verdict_text(tr, lang: str, verdict: dict) -> str:
    points, p = verdict["points"], _p(verdict["p_value"])
    shown = {"lost": f"{-points:.1f}", "gained": f"{points:.1f}",
             "changed": f"{points:+.1f}"}.get(verdict["code"], "0")
    return tr.t(f"forgetting.verdict.{verdict['code']}", lang, points=shown, p=p)


def _done(tr, lang, record) -> str:
    v, overall = record["verdict"], record["overall"]
    color = VERDICT_COLORS.get(v["code"], "inherit")
    head = (f'<div style="color:{color};font-weight:600;margin-bottom:4px">'
            f"{html.escape(verdict_text(tr, lang, v))}</div>")
    rows = [_row(f"{x['name']} · {page_text(x['folder'])}", x)
            for x in record["exams"].values()]
    rows.append(_row(tr.t("forgetting.overall", lang), overall, bold=True))
    cols = "".join(f'<th style="{CELL}text-align:left">'
                   f'{html.escape(tr.t(f"forgetting.col.{c}", lang))}</th>'
                   for c in ("exam", "n", "before", "after", "change", "p"))
    note = tr.t("forgetting.note", lang, n=overall["n"], b=overall["b"], c=overall["c"])
    return (f'{head}<table style="border-collapse:collapse;border:none;font-size:0.9rem;'
            'margin:0">'
            f"<tr>{cols}</tr>{''.join(rows)}</table>"
            f'<div style="opacity:0.75;font-size:0.8rem;margin-top:4px">'
            f"{html.escape(note)}</div>")


def _row(label: str, x: dict, bold: bool = False) -> str:
    cells = [label, str(x["n"]), f"{x['before']:.1%}", f"{x['after']:.1%}",
             f"{x['points']:+.1f}", _p(x["p_value"])]
    weight = "font-weight:600;" if bold else ""
    return "<tr>" + "".join(f'<td style="{CELL}{weight}">{html.escape(c)}</td>'
                            for c in cells) + "</tr>"


def wire(ctx, c: dict, run_box, api_name: str, then: dict | None = None) -> None:
    """The button runs the check of the run in ``run_box`` again; ``then`` (a poll) follows."""
    def rerun(run_id, lang):
        try:
            cfg = ctx.store.get(run_id).config()
            # The folders through the workspace's rules, as at Start (a missing one is said here)
            ctx.jobs.check_forgetting(run_id, exam_dirs(cfg, resolve=ctx.workspace.resolve))
        except (*USER_ERRORS, TypeError) as exc:
            return values(ctx, run_id, lang, note=f"⚠ {ctx.tr.error(exc, lang)}")[0]
        return values(ctx, run_id, lang)[0]

    event = c["forgetting_rerun"].click(rerun, [run_box, ctx.lang], outputs(c), api_name=api_name,
                             concurrency_limit=1)
    if then is not None:
        event.then(**then, api_visibility="private")
