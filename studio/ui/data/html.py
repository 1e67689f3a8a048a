"""HTML and tables the Data tab shows: messages, the token preview, length statistics, problems.

Pure functions from engine results to strings or DataFrames, each taking the translator and the
language, so the same view is re-rendered when the header's language switch changes. Colours are
inline so the preview reads the same in any theme and in screenshots; all user text is escaped.
"""

from __future__ import annotations

import html

import pandas as pd

from studio.engine.data.edit import COLUMNS
from studio.engine.data.preview import LengthStats, Piece

TRAINED = "background:#dcfce7;color:#14532d;border-bottom:2px solid #16a34a;"
MASKED = "background:#f1f5f9;color:#64748b;"
SPECIAL = "font-weight:600;font-style:italic;"
BOX = ("white-space:pre-wrap;word-break:break-word;font-family:ui-monospace,Menlo,Consolas,"
       "'Noto Sans Mono CJK SC',monospace;font-size:13px;line-height:1.6;padding:10px;"
       "border:1px solid #e2e8f0;border-radius:8px;background:#fff;max-height:420px;"
       "overflow:auto;")
MSG = {"error": "background:#fef2f2;color:#b91c1c;border-left:4px solid #dc2626;",
       "ok": "background:#f0fdf4;color:#166534;border-left:4px solid #16a34a;",
       "warn": "background:#fffbeb;color:#92400e;border-left:4px solid #d97706;",
       "info": "background:#f8fafc;color:#334155;border-left:4px solid #94a3b8;"}


def message(t, lang: str, level: str, key: str, **fmt) -> str:
    """A coloured one-line message box; ``level`` is error, warn, ok or info."""
    # A (key, values) value is itself translated, and a {lang: text} value picked, so a stored
    # message re-renders in any language.
    fmt = {k: t(v[0], lang, **v[1]) if isinstance(v, tuple)
           else v.get(lang, v.get("en", "")) if isinstance(v, dict) else v
           for k, v in fmt.items()}
    text = html.escape(t(key, lang, **fmt))
    return (f"<div class='data-msg data-msg-{level}' style='{MSG[level]}padding:8px 12px;"
            f"border-radius:6px;font-size:14px'>{text}</div>")


def table(t, lang: str, kind: str, rows: list[list]) -> pd.DataFrame:
    headers = [t(f"data.col.{c}", lang) for c in COLUMNS[kind]]
    return pd.DataFrame(rows, columns=headers)


def problems(t, lang: str, items: list[tuple[int, str, str]], limit: int = 500) -> pd.DataFrame:
    """``items`` are (row, field, message already in ``lang``)."""
    rows = [list(item) for item in items[:limit]]
    return pd.DataFrame(rows, columns=[t("data.col.row", lang), t("data.col.field", lang),
                                       t("data.col.problem", lang)])


def _span(piece: Piece) -> str:
    style = (TRAINED if piece.trained else MASKED) + (SPECIAL if piece.special else "")
    return f"<span style='{style}'>{html.escape(piece.text)}</span>"


def legend(t, lang: str) -> str:
    chip = "display:inline-block;padding:1px 8px;border-radius:4px;margin-right:10px;"
    return (f"<div style='margin:4px 0 8px;font-size:13px'>"
            f"<span style='{chip}{TRAINED}'>{html.escape(t('data.trained', lang))}</span>"
            f"<span style='{chip}{MASKED}'>{html.escape(t('data.masked', lang))}</span></div>")


def preview(t, lang: str, row: int, sides: list[tuple[str, list[Piece]]],
            notes: tuple[str, ...] = ()) -> str:
    """The rendered row: a legend, how the template took tools and reasoning (``notes``), then
    one box per sequence (two for a preference pair)."""
    parts = [f"<div class='data-preview'>{legend(t, lang)}"]
    parts += [f"<div class='data-note' style='font-size:13px;color:#1e3a8a;margin:2px 0'>"
              f"ℹ {html.escape(t(f'data.note.{note}', lang))}</div>" for note in notes]
    for side, items in sides:
        total = sum(p.tokens for p in items)
        trained = sum(p.tokens for p in items if p.trained)
        title = t("data.preview_title", lang, row=row, tokens=total, trained=trained,
                  share=round(100 * trained / total) if total else 0)
        if side:
            title = f"{t(f'data.col.{side}', lang)} · {title}"
        parts.append(f"<div style='font-size:13px;color:#475569;margin:6px 0 4px'>"
                     f"{html.escape(title)}</div><div style=\"{BOX}\">"
                     + "".join(_span(p) for p in items) + "</div>")
    return "".join(parts) + "</div>"


def _tile(label: str, value) -> str:
    return (f"<div style='flex:1;min-width:70px;padding:6px 8px;border:1px solid #e2e8f0;"
            f"border-radius:8px;background:#f8fafc'><div style='font-size:11px;color:#64748b'>"
            f"{html.escape(label)}</div><div style='font-size:17px;font-weight:600;"
            f"color:#0f172a'>{value}</div></div>")


def length_stats(t, lang: str, s: LengthStats) -> str:
    tiles = [("data.stat.rows", s.count), ("data.stat.mean", round(s.mean)),
             ("data.stat.p50", s.p50), ("data.stat.p95", s.p95), ("data.stat.max", s.max)]
    over = len(s.over)
    over_color = "#b91c1c" if over else "#166534"
    head = "".join(_tile(t(k, lang), v) for k, v in tiles)
    head += _tile(t("data.stat.over", lang, max_length=s.max_length),
                  f"<span style='color:{over_color}'>{over}</span>")
    note = t("data.over_note", lang, n=over, max_length=s.max_length) if over else \
        t("data.none_over", lang, max_length=s.max_length)
    return (f"<div class='data-stats'><div style='display:flex;gap:6px;flex-wrap:wrap'>{head}"
            f"</div>{histogram_svg(t, lang, s)}<div style='font-size:13px;color:{over_color}'>"
            f"{html.escape(note)}</div></div>")


def histogram_svg(t, lang: str, s: LengthStats, w: int = 560, h: int = 170) -> str:
    """Bars of rows per length bin; bins past the max length red, the limit a dashed line."""
    if not s.bins:
        return ""
    left, bottom, top_pad = 36, 22, 16
    span = s.bins[-1][1]
    peak = max(c for _, _, c in s.bins) or 1
    sx = (w - left - 8) / span
    sy = (h - bottom - top_pad) / peak
    bars = []
    for start, end, count in s.bins:
        colour = "#ef4444" if start >= s.max_length else "#6366f1"
        bh = count * sy
        bars.append(f"<rect x='{left + start * sx:.1f}' y='{h - bottom - bh:.1f}' "
                    f"width='{max(1.0, (end - start) * sx - 1):.1f}' height='{bh:.1f}' "
                    f"fill='{colour}'><title>{start}–{end}: {count}</title></rect>")
    mx = left + s.max_length * sx
    label = html.escape(t("data.max_marker", lang, max_length=s.max_length))
    anchor = "end" if mx > w * 0.7 else "start"
    dx = -4 if anchor == "end" else 4
    axis = (f"<line x1='{left}' y1='{h - bottom}' x2='{w - 8}' y2='{h - bottom}' "
            f"stroke='#94a3b8'/><text x='{left}' y='{h - 6}' font-size='11' fill='#64748b'>0"
            f"</text><text x='{w - 8}' y='{h - 6}' font-size='11' fill='#64748b' "
            f"text-anchor='end'>{span} {html.escape(t('data.tokens', lang))}</text>"
            f"<text x='{left - 4}' y='{top_pad + 4}' font-size='11' fill='#64748b' "
            f"text-anchor='end'>{peak}</text>")
    marker = (f"<line x1='{mx:.1f}' y1='{top_pad - 6}' x2='{mx:.1f}' y2='{h - bottom}' "
              f"stroke='#b91c1c' stroke-width='2' stroke-dasharray='5,3'/>"
              f"<text x='{mx + dx:.1f}' y='{top_pad}' font-size='11' fill='#b91c1c' "
              f"text-anchor='{anchor}'>{label}</text>")
    return (f"<svg viewBox='0 0 {w} {h}' style='width:100%;max-width:{w}px;margin:8px 0' "
            f"role='img' aria-label='{label}'>{''.join(bars)}{axis}{marker}</svg>")
