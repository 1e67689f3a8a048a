"""The Data tab's row actions: paging, opening, editing, undo, the token preview, saving.

Split from ``handlers`` (loading and the shared views) to keep both files small. Edits go
through ``studio.engine.data.edit`` so undo always has the inverse operation; token lengths
measured before an edit are dropped after it, because their row numbers may no longer match.
"""

from __future__ import annotations

import gradio as gr

from studio.engine.data import edit as ed
from studio.engine.data import limits, store, template
from studio.engine.data import preview as pv
from studio.engine.errors import DataError, PathError
from studio.engine.models import BUNDLED_ID, HUB_ID
from studio.ui.data import html as view
from studio.ui.data.handlers import DataHandlers, Refusal, guarded


class DataActions(DataHandlers):
    # ------------------------------------------------------------------ paging and opening

    @guarded("status")
    def show_page(self, query: str, page, lang: str, state: dict) -> dict:
        return self.view(state, lang, query, page or 1)

    @guarded("status")
    def step_page(self, delta: int, query: str, page, lang: str, state: dict) -> dict:
        return self.view(state, lang, query, int(page or 1) + delta)

    @guarded("edit_msg")
    def open_row(self, row_no, lang: str, state: dict) -> dict:
        index = self._index(row_no, state)
        ui = self.ui
        self.unsay(state, "edit_msg")
        return {ui.state: state, ui.row_no: index + 1, ui.preview_row: index + 1, ui.edit_msg: "",
                ui.editor: ed.record_json(state["records"][index])}

    def select_row(self, lang: str, state: dict, evt: gr.SelectData) -> dict:
        row_value = getattr(evt, "row_value", None) or []
        if not row_value:
            return {}
        return self.open_row(row_value[0], lang, state)

    def blank_row(self, lang: str, state: dict) -> dict:
        template = ed.template_for(ed.dataset_kind(state["records"]))
        return {self.ui.state: state, self.ui.editor: ed.record_json(template),
                **self.say(state, "edit_msg", lang, "info", "data.blank_hint")}

    def _index(self, row_no, state: dict) -> int:
        if not state["records"]:
            raise Refusal("data.load_first")
        try:
            index = int(row_no) - 1
        except (TypeError, ValueError):
            raise Refusal("data.not_row_number", row=row_no) from None
        if not 0 <= index < len(state["records"]):
            raise DataError("edit_row_range", row=index + 1, total=len(state["records"]))
        return index

    # ------------------------------------------------------------------ editing

    def _after_edit(self, state: dict, lang: str, query: str, index: int | None,
                    key: str, **fmt) -> dict:
        measured = state["lengths"] is not None
        state["lengths"], state["failed"] = None, {}
        recs = state["records"]
        page = ed.page_for_row(ed.search(recs, query), index) if index is not None else 1
        out = self.view(state, lang, query, page)
        if measured:
            out.update(self.say(state, "stats", lang, "info", "data.remeasure"))
        out.update(self.say(state, "edit_msg", lang, "ok", key, n=len(state["undo"]), **fmt))
        if index is not None and recs:
            index = min(index, len(recs) - 1)
            out[self.ui.row_no] = index + 1
            out[self.ui.editor] = ed.record_json(recs[index])
        return out

    @guarded("edit_msg")
    def apply_edit(self, row_no, text: str, query: str, lang: str, state: dict) -> dict:
        index = self._index(row_no, state)
        record = ed.parse_record(text, ed.dataset_kind(state["records"]))
        ed.set_row(state["records"], state["undo"], index, record)
        return self._after_edit(state, lang, query, index, "data.edited", row=index + 1)

    @guarded("edit_msg")
    def add_row(self, text: str, query: str, lang: str, state: dict) -> dict:
        if not state["rows"]:
            raise Refusal("data.load_first")
        if len(state["records"]) >= limits.MAX_ROWS:
            raise DataError("data_rows_full", limit=f"{limits.MAX_ROWS:,}")
        record = ed.parse_record(text, ed.dataset_kind(state["records"]))
        index = ed.add_row(state["records"], state["undo"], record)
        return self._after_edit(state, lang, "", index, "data.added", row=index + 1)

    @guarded("edit_msg")
    def delete_row(self, row_no, query: str, lang: str, state: dict) -> dict:
        index = self._index(row_no, state)
        if len(state["records"]) == 1:
            raise Refusal("data.last_row")
        ed.delete_row(state["records"], state["undo"], index)
        return self._after_edit(state, lang, query, index, "data.deleted", row=index + 1)

    @guarded("edit_msg")
    def undo(self, query: str, lang: str, state: dict) -> dict:
        index = ed.undo_last(state["records"], state["undo"])
        if index is None:
            return {self.ui.state: state,
                    **self.say(state, "edit_msg", lang, "info", "data.nothing_to_undo")}
        return self._after_edit(state, lang, query, index, "data.undone", row=index + 1)

    # ------------------------------------------------------------------ preview and lengths

    def _tokenizer(self, model: str):
        model = (model or "").strip() or BUNDLED_ID
        if model != BUNDLED_ID:
            try:  # a local folder must lie inside the allowed roots, like every user path
                model = str(self.ctx.workspace.resolve(model))
            except PathError:
                if not HUB_ID.match(model):
                    raise
        return pv.cached_tokenizer(model)

    @guarded("preview")
    def preview(self, model: str, row_no, assistant_only: bool, lang: str, state: dict) -> dict:
        index = self._index(row_no, state)
        tokenizer = self._tokenizer(model)
        record = state["records"][index]
        sides = [(side, pv.pieces(tokenizer, conv, bool(assistant_only)))
                 for side, conv in pv.conversations(record)]
        notes = tuple(template.notes(tokenizer, record))
        state["shown"] = (index + 1, sides, notes)  # re-rendered as is when the language changes
        self.unsay(state, "preview")
        return {self.ui.state: state,
                self.ui.preview: view.preview(self.t, lang, index + 1, sides, notes)}

    @guarded("stats")
    def measure(self, model: str, max_length, lang: str, state: dict) -> dict:
        if not state["records"]:
            raise Refusal("data.load_first")
        limit = int(max_length or 0)
        if limit < 1:
            raise Refusal("data.bad_max_length")
        lengths, failed = pv.lengths(self._tokenizer(model), state["records"])
        state.update(lengths=lengths, failed=failed, max_length=limit)
        self.unsay(state, "stats")
        s = pv.stats(lengths, limit, failed)
        return {self.ui.state: state, self.ui.stats: view.length_stats(self.t, lang, s),
                **self.problem_view(state, lang)}

    # ------------------------------------------------------------------ saving

    @guarded("save_msg")
    def save(self, name: str, lang: str, state: dict) -> dict:
        if not state["records"]:
            raise Refusal("data.load_first")
        # No "is the name free?" check first: another session could take the name between the
        # check and the write. save_dataset claims the name in one step and says when taken.
        path = store.save_dataset(self.ctx.workspace, name, state["records"])
        rel = str(path.relative_to(self.ctx.workspace.root))
        ui = self.ui
        return {ui.state: state,
                **self.say(state, "save_msg", lang, "ok", "data.saved", n=len(state["records"]),
                           path=rel),
                ui.saved_path: rel,
                ui.source: gr.update(choices=store.list_datasets(self.ctx.workspace))}

    # ------------------------------------------------------------------ language

    def relabel(self, lang: str, query: str, page, state: dict) -> dict:
        """Re-render what handlers wrote in the old language (labels update via ``tr``)."""
        out = self.view(state, lang, query, page or 1)
        if state["status"]:
            level, key, fmt = state["status"]
            out[self.ui.status] = view.message(self.t, lang, level, key, **fmt)
        if state.get("shown"):
            out[self.ui.preview] = view.preview(self.t, lang, *state["shown"])
        if state["lengths"] is not None:
            s = pv.stats(state["lengths"], state["max_length"], state["failed"])
            out[self.ui.stats] = view.length_stats(self.t, lang, s)
        if state["fmt"]:
            slots = self.slot_updates(state["fmt"], store.columns(state["rows"]),
                                      state["slots"], lang)
            out.update(zip(self.ui.slots, slots))
        for attr, (level, key, fmt) in state.get("msgs", {}).items():  # edits, saves, errors
            out[getattr(self.ui, attr)] = view.message(self.t, lang, level, key, **fmt)
        return out

    def analyze(self, model: str, row_no, assistant_only: bool, max_length, lang: str,
                state: dict) -> dict:
        """Preview and measure right after a load; silent when the load failed."""
        if not state["records"]:
            return {}
        return {**self.preview(model, row_no, assistant_only, lang, state),
                **self.measure(model, max_length, lang, state)}

    def preview_quiet(self, model: str, row_no, assistant_only: bool, lang: str,
                      state: dict) -> dict:
        return self.preview(model, row_no, assistant_only, lang, state) if state["records"] \
            else {}
