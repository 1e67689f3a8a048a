"""What the Data tab's buttons do: load, map columns, page, edit, undo, preview, measure, save.

Each handler returns a dict of component -> update, so it touches only what changed, and runs
inside ``guarded``, which turns any exception into a red message in the page (a stack trace goes
to the server log, never to the user, and no message names a server folder). The dataset being
edited lives in a ``gr.State`` dict (one per browser session), read with the caps of
``studio.engine.data.limits``; what outlives the page is only what is saved into the workspace,
and an upload that cannot be loaded is not kept there.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import gradio as gr

from studio.engine.data import edit as ed
from studio.engine.data import limits, store
from studio.engine.data.formats import FORMATS, detect_format
from studio.engine.data.read import read_rows
from studio.engine.data.validate import validate
from studio.engine.errors import StudioError
from studio.ui.data import html as view
from studio.ui.i18n import LANGS, said

log = logging.getLogger(__name__)
MAX_SLOTS = 5


class Refusal(Exception):
    """A request the page itself refuses (nothing loaded yet, say): a translation key and its
    values, shown like an engine error."""

    def __init__(self, key: str, **fmt):
        super().__init__(key)
        self.key, self.fmt = key, fmt


def empty_state() -> dict:
    return {"rows": [], "records": [], "undo": [], "source": "", "fmt": "", "slots": {},
            "status": ("info", "data.status_idle", {}),  # re-rendered on a language switch
            "msgs": {},  # the other message boxes' (level, key, values), re-rendered likewise
            "lengths": None, "failed": {}, "max_length": 0, "shown": None,
            "limited": False}  # True when the source had more rows than limits.MAX_ROWS


def guarded(msg_attr: str):
    """Run a handler; on failure show the error in ``ui.<msg_attr>`` instead of raising."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(self, *args):
            lang, ws = self.lang_of(args), self.ctx.workspace
            try:
                return fn(self, *args)
            except StudioError as exc:
                public = store.public_error(ws, exc)
                detail = said(lambda lg: self.ctx.tr.error(public, lg))
            except Refusal as exc:
                detail = said(lambda lg, e=exc: self.t(e.key, lg, **e.fmt))
            except OSError as exc:  # a file vanished or a disk filled: say which, plainly
                detail = store.public_text(ws, str(exc))
            except Exception as exc:  # a bug or a library surprise: keep the server alive
                log.exception("Data tab: %s failed", fn.__name__)
                detail = store.public_text(ws, f"{type(exc).__name__}: {exc}")
            state = args[-1] if args and isinstance(args[-1], dict) else None
            if state is None:
                return {getattr(self.ui, msg_attr): view.message(
                    self.t, lang, "error", "data.error", detail=detail)}
            return {self.ui.state: state,  # the error is re-rendered on a language switch
                    **self.say(state, msg_attr, lang, "error", "data.error", detail=detail)}
        return run
    return wrap


class DataHandlers:
    def __init__(self, ctx, ui):
        self.ctx, self.ui, self.t = ctx, ui, ctx.t

    @staticmethod
    def lang_of(args) -> str:
        """The page's language: every Data event passes it last, before the session state (by
        position, so a search for "zh" is never taken for it)."""
        args = args[:-1] if args and (args[-1] is None or isinstance(args[-1], dict)) else args
        return args[-1] if args and args[-1] in LANGS else "en"

    # ------------------------------------------------------------------ views

    def view(self, state: dict, lang: str, query: str = "", page: int = 1) -> dict:
        """Table, paging line and problems for the current records."""
        ui, recs = self.ui, state["records"]
        indices = ed.search(recs, query)
        shown, page, pages = ed.page_of(indices, page)
        kind = ed.dataset_kind(recs)
        rows = [ed.flat_row(i + 1, recs[i]) for i in shown]
        info = self.t("data.page_info", lang, page=page, pages=pages, shown=len(indices),
                      total=len(recs)) if recs else self.t("data.no_rows", lang)
        return {ui.state: state, ui.table: view.table(self.t, lang, kind, rows),
                ui.page: page, ui.page_info: info, **self.problem_view(state, lang)}

    def problem_view(self, state: dict, lang: str) -> dict:
        items = [(p.row, p.field, self.ctx.tr.reason(p.reason, lang))
                 for p in validate(state["records"])]
        lengths, limit = state["lengths"], state["max_length"]
        if lengths is not None:
            tokens = self.t("data.field.tokens", lang)
            template = self.t("data.field.template", lang)
            items += [(i + 1, tokens, self.t("data.problem.too_long", lang, n=n,
                                             max_length=limit))
                      for i, n in enumerate(lengths) if n is not None and n > limit]
            items += [(r, template, msg) for r, msg in state["failed"].items()]
        items.sort(key=lambda item: item[0])
        rows_hit = len({r for r, _, _ in items})
        info = (self.t("data.problems_info", lang, n=len(items), rows=rows_hit)
                if items else self.t("data.no_problems", lang))
        return {self.ui.problems: view.problems(self.t, lang, items),
                self.ui.problems_info: info}

    def status(self, state: dict, lang: str, level: str, key: str, **fmt) -> dict:
        return self.say(state, "status", lang, level, key, **fmt)

    def say(self, state: dict, attr: str, lang: str, level: str, key: str, **fmt) -> dict:
        """A message in the box ``ui.<attr>``, kept so a language switch re-renders it."""
        if attr == "status":
            state["status"] = (level, key, fmt)
        else:
            state.setdefault("msgs", {})[attr] = (level, key, fmt)
        return {getattr(self.ui, attr): view.message(self.t, lang, level, key, **fmt)}

    @staticmethod
    def unsay(state: dict, *attrs: str) -> None:
        """The boxes ``attrs`` no longer show a message (cleared, or showing a view)."""
        for attr in attrs:
            state.setdefault("msgs", {}).pop(attr, None)

    def slot_updates(self, fmt: str, cols: list[str], slots: dict, lang: str) -> list:
        names = store.SLOTS.get(fmt, ())
        choices = [(self.t("data.none", lang), ""), *[(c, c) for c in cols]]
        return [gr.update(visible=True, choices=choices, value=slots.get(names[k], ""),
                          label=self.t(f"data.slot.{names[k]}", lang))
                if k < len(names) else gr.update(visible=False, value="")
                for k in range(MAX_SLOTS)]

    # ------------------------------------------------------------------ loading

    @guarded("status")
    def load(self, source: str, fmt_choice: str, text_split: str, lang: str,
             state: dict) -> dict:
        return self.read_and_show(source, fmt_choice, text_split, lang)

    def read_and_show(self, source: str, fmt_choice: str, text_split: str, lang: str) -> dict:
        """Read ``source`` within the session's caps and show it; raises what went wrong (the
        caller's ``guarded`` shows it, leaving the session's current dataset as it was)."""
        source = (source or "").strip()
        resolved = store.resolve_source(self.ctx.workspace, source)
        cap = limits.MAX_ROWS  # one more row is read only to know whether the source has more
        rows = read_rows(resolved, text_split=text_split or "document", limit=cap + 1,
                         max_bytes=limits.MAX_FILE_BYTES)
        limited, rows = len(rows) > cap, rows[:cap]
        fmt = fmt_choice if fmt_choice in FORMATS else detect_format(rows)
        slots = store.default_slots(fmt, rows)
        records = store.convert(rows, fmt, slots, source=Path(resolved).name)
        state = {**empty_state(), "rows": rows, "records": records, "source": source,
                 "fmt": fmt, "slots": slots, "limited": limited}
        return self.loaded(state, lang, "data.loaded", detected=fmt_choice not in FORMATS)

    def loaded(self, state: dict, lang: str, key: str, detected: bool = True) -> dict:
        ui, recs, fmt = self.ui, state["records"], state["fmt"]
        how = ("data.detected" if detected else "data.chosen", {"fmt": fmt})
        tags = store.placeholders(recs)
        extra = ("data.placeholders", {"names": ", ".join(tags)}) if tags else ""
        # A dataset_info.json entry (".../dataset_info.json#name") is saved under its own name.
        name = Path(state["source"].rsplit("#", 1)[-1]).stem or "dataset"
        level, key = ("warn", "data.loaded_first") if state.get("limited") else ("ok", key)
        out = {**self.view(state, lang),
               **self.status(state, lang, level, key, n=len(recs), source=state["source"],
                             how=how, extra=extra, limit=f"{limits.MAX_ROWS:,}"),
               ui.fmt: fmt, ui.row_no: 1, ui.preview_row: 1,
               ui.editor: ed.record_json(recs[0]), ui.edit_msg: "",
               ui.save_name: f"{store.safe_name(name)}-edited", ui.stats: "", ui.preview: ""}
        out.update(zip(ui.slots, self.slot_updates(fmt, store.columns(state["rows"]),
                                                   state["slots"], lang)))
        return out

    @guarded("status")
    def upload(self, file: str, text_split: str, lang: str, state: dict) -> dict:
        if not file:
            raise Refusal("data.no_upload")
        ws = self.ctx.workspace
        source = store.store_upload(ws, file, max_bytes=limits.MAX_FILE_BYTES)
        try:
            out = self.read_and_show(source, "auto", text_split, lang)
        except BaseException:
            store.discard_upload(ws, source)  # a file that cannot be loaded is not kept
            raise
        out[self.ui.source] = gr.update(choices=store.list_datasets(self.ctx.workspace),
                                        value=source)
        return out

    @guarded("status")
    def apply_mapping(self, fmt: str, *args) -> dict:
        *values, lang, state = args
        if not state["rows"]:
            raise Refusal("data.load_first")
        slots = dict(zip(store.SLOTS.get(fmt, ()), values))
        records = store.convert(state["rows"], fmt, slots, source=Path(state["source"]).name)
        state = {**empty_state(), "rows": state["rows"], "records": records,
                 "source": state["source"], "fmt": fmt, "slots": slots,
                 "limited": state.get("limited", False)}
        return self.loaded(state, lang, "data.remapped", detected=False)

    def format_changed(self, fmt: str, lang: str, state: dict) -> list:
        """New slots for a format picked by hand, with that format's default columns."""
        rows = state["rows"]
        slots = store.default_slots(fmt, rows) if fmt in store.SLOTS and rows else {}
        return self.slot_updates(fmt, store.columns(rows), slots, lang)

    def refresh_sources(self) -> dict:
        return gr.update(choices=store.list_datasets(self.ctx.workspace))
