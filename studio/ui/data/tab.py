"""The Data tab: bring a dataset in, check and edit its rows, see it as the model will, save it.

Four stacked sections fit a laptop screen: the source (picker, upload, detected format and the
column mapping), the rows (a paged, searchable table beside a JSON row editor with undo), the
model's view (one row with trained tokens highlighted, token-length statistics against the max
length), and problems plus saving. Handlers live in ``handlers`` / ``actions``; this file only
lays out components and wires events. ``build`` returns ``DataHandles`` (the saved dataset's path),
so the Train tab can offer and pick a dataset saved here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace

import gradio as gr

from studio.engine.data.formats import FORMATS
from studio.engine.data.read import SUFFIXES, TEXT_SPLITS
from studio.engine.data.store import list_datasets
from studio.engine.models import BUNDLED_ID, known_models
from studio.engine.train.config import TrainConfig
from studio.ui.data import html as view
from studio.ui.data.actions import DataActions
from studio.ui.data.handlers import MAX_SLOTS, empty_state

# What every Data-tab event may update, in order (after the session state); API clients and
# tests read results by these names.
OUTPUTS = ("status", "source", "fmt", *(f"slot{k}" for k in range(MAX_SLOTS)), "table", "page",
           "page_info", "problems", "problems_info", "row_no", "editor", "edit_msg",
           "preview_row", "preview", "stats", "save_name", "save_msg", "saved_path")


def _source_section(ctx, ui) -> None:
    tr = ctx.tr
    tr(gr.Markdown, texts={"value": "data.h_source"})
    with gr.Row(equal_height=True):
        ui.source = tr(gr.Dropdown, texts={"label": "data.source", "info": "data.source_help"},
                       choices=list_datasets(ctx.workspace), value=None,
                       allow_custom_value=True, scale=6, elem_id="data-source")
        ui.refresh = tr(gr.Button, texts={"value": "data.refresh"}, size="sm", scale=0,
                        min_width=90)
        ui.upload = tr(gr.UploadButton, texts={"label": "data.upload"}, scale=1, min_width=150,
                       file_types=list(SUFFIXES), type="filepath", elem_id="data-upload")
        ui.load = tr(gr.Button, texts={"value": "data.load"}, variant="primary", scale=1,
                     min_width=120, elem_id="data-load")
    ui.text_split = gr.Radio(text_split_choices(ctx, "en"), value=TrainConfig().text_split,
                             label=ctx.t("data.text_split"), info=ctx.t("data.text_split_help"),
                             elem_id="data-text-split")
    ctx.tr.bind(ui.text_split, label="data.text_split", info="data.text_split_help")
    ui.status = gr.HTML(view.message(ctx.t, "en", "info", "data.status_idle"),
                        elem_id="data-status")
    with tr(gr.Accordion, texts={"label": "data.h_mapping"}, open=False):
        tr(gr.Markdown, texts={"value": "data.mapping_help"}, elem_classes="studio-muted")
        with gr.Row(equal_height=True):
            ui.fmt = tr(gr.Dropdown, texts={"label": "data.format"},
                        choices=["auto", *FORMATS], value="auto", min_width=130,
                        elem_id="data-format")
            ui.slots = [gr.Dropdown(label=f"slot {k}", choices=[], visible=False,
                                    allow_custom_value=True, min_width=120)
                        for k in range(MAX_SLOTS)]
            ui.apply_mapping = tr(gr.Button, texts={"value": "data.apply_mapping"},
                                  min_width=120)


def text_split_choices(ctx, lang: str) -> list[tuple[str, str]]:
    """How .txt and .md files become rows, labelled in ``lang``."""
    return [(ctx.t(f"data.text_split.{k}", lang), k) for k in TEXT_SPLITS]


def _rows_section(ctx, ui) -> None:
    tr = ctx.tr
    with gr.Row():
        with gr.Column(scale=3, min_width=480):
            tr(gr.Markdown, texts={"value": "data.h_rows"})
            ui.search = tr(gr.Textbox, texts={"label": "data.search",
                                              "placeholder": "data.search_placeholder"},
                           elem_id="data-search")
            ui.table = gr.Dataframe(view.table(ctx.t, "en", "chat", []), interactive=False,
                                    wrap=True, max_height=520, elem_id="data-table",
                                    column_widths=["8%", "18%", "32%", "32%", "10%"])
            with gr.Row(equal_height=True, elem_id="data-pager"):
                ui.prev = tr(gr.Button, texts={"value": "data.prev"}, size="sm", min_width=90,
                             scale=0)
                ui.page = tr(gr.Number, texts={"label": "data.page"}, value=1, precision=0,
                             minimum=1, min_width=70, scale=0, show_label=False,
                             container=False, elem_id="data-page")
                ui.next = tr(gr.Button, texts={"value": "data.next"}, size="sm", min_width=90,
                             scale=0)
                ui.page_info = gr.Markdown(ctx.t("data.no_rows"), elem_classes="studio-muted")
        with gr.Column(scale=2, min_width=340):
            tr(gr.Markdown, texts={"value": "data.h_editor"})
            ui.row_no = tr(gr.Number, texts={"label": "data.row_no", "info": "data.row_help"},
                           value=1, precision=0, minimum=1, elem_id="data-row-no")
            ui.editor = tr(gr.Code, texts={"label": "data.editor"}, language="json", lines=14,
                           max_lines=22, wrap_lines=True, interactive=True,
                           elem_id="data-editor")
            with gr.Row():
                ui.apply_edit = tr(gr.Button, texts={"value": "data.apply_edit"},
                                   variant="primary", min_width=80)
                ui.add_row = tr(gr.Button, texts={"value": "data.add_row"}, min_width=80)
                ui.blank = tr(gr.Button, texts={"value": "data.blank"}, min_width=80)
            with gr.Row():
                ui.delete_row = tr(gr.Button, texts={"value": "data.delete_row"},
                                   variant="stop", min_width=80)
                ui.undo = tr(gr.Button, texts={"value": "data.undo"}, min_width=80)
            ui.edit_msg = gr.HTML("", elem_id="data-edit-msg")


def _model_view_section(ctx, ui) -> None:
    tr = ctx.tr
    with gr.Row():
        with gr.Column(scale=3, min_width=480):
            tr(gr.Markdown, texts={"value": "data.h_preview"})
            with gr.Row(equal_height=True):
                ui.model = tr(gr.Dropdown, texts={"label": "data.model", "info": "data.model_help"},
                              choices=known_models(), value=BUNDLED_ID, allow_custom_value=True,
                              scale=3)
                ui.preview_row = tr(gr.Number, texts={"label": "data.preview_row"}, value=1,
                                    precision=0, minimum=1, min_width=90, scale=1)
                ui.assistant_only = tr(gr.Checkbox, texts={"label": "data.assistant_only"},
                                       value=TrainConfig().assistant_only_loss, scale=2)
            ui.render = tr(gr.Button, texts={"value": "data.render"}, size="sm")
            ui.preview = gr.HTML("", elem_id="data-preview")
        with gr.Column(scale=2, min_width=340):
            tr(gr.Markdown, texts={"value": "data.h_lengths"})
            with gr.Row(equal_height=True):
                ui.max_length = tr(gr.Number, texts={"label": "data.max_length"},
                                   value=TrainConfig().max_length, precision=0, minimum=1)
                ui.measure = tr(gr.Button, texts={"value": "data.measure"}, size="sm")
            ui.stats = gr.HTML("", elem_id="data-stats")


def _problems_and_save(ctx, ui) -> None:
    tr = ctx.tr
    with gr.Row():
        with gr.Column(scale=3, min_width=480):
            tr(gr.Markdown, texts={"value": "data.h_problems"})
            ui.problems_info = gr.Markdown(ctx.t("data.no_problems"), elem_classes="studio-muted")
            ui.problems = gr.Dataframe(view.problems(ctx.t, "en", []), interactive=False,
                                       wrap=True, max_height=260, elem_id="data-problems",
                                       column_widths=["12%", "22%", "66%"])
        with gr.Column(scale=2, min_width=340):
            tr(gr.Markdown, texts={"value": "data.h_save"})
            ui.save_name = tr(gr.Textbox, texts={"label": "data.save_name",
                                                 "info": "data.save_name_help"},
                              elem_id="data-save-name")
            ui.save = tr(gr.Button, texts={"value": "data.save"}, variant="primary",
                         elem_id="data-save")
            ui.save_msg = gr.HTML("", elem_id="data-save-msg")
            ui.saved_path = tr(gr.Textbox, texts={"label": "data.saved_path"},
                               interactive=False, elem_id="data-saved-path")


@dataclass(frozen=True)
class DataHandles:
    """What other tabs use of the Data tab."""

    saved_path: gr.Textbox  # the workspace path of the dataset saved last (changes on save)


def build(ctx) -> DataHandles:
    ui = SimpleNamespace(state=gr.State(empty_state()))
    _source_section(ctx, ui)
    _rows_section(ctx, ui)
    _model_view_section(ctx, ui)
    _problems_and_save(ctx, ui)
    _wire(ctx, ui, DataActions(ctx, ui))
    return DataHandles(saved_path=ui.saved_path)


def _wire(ctx, ui, h: DataActions) -> None:
    lang, st = ctx.lang, ui.state
    ui.slot0, ui.slot1, ui.slot2, ui.slot3, ui.slot4 = ui.slots
    out = [st, *(getattr(ui, name) for name in OUTPUTS)]
    on = functools.partial(_on, outputs=out)
    analyze = [ui.model, ui.preview_row, ui.assistant_only, ui.max_length, lang, st]
    on(ui.load.click, h.load, [ui.source, ui.fmt, ui.text_split, lang, st], "data_load").then(
        h.analyze, analyze, out, api_visibility="private")
    on(ui.upload.upload, h.upload, [ui.upload, ui.text_split, lang, st], "data_upload").then(
        h.analyze, analyze, out, api_visibility="private")
    on(ui.apply_mapping.click, h.apply_mapping, [ui.fmt, *ui.slots, lang, st],
       "data_apply_mapping").then(h.analyze, analyze, out, api_visibility="private")
    ui.fmt.input(h.format_changed, [ui.fmt, lang, st], ui.slots, api_visibility="private")
    ui.refresh.click(h.refresh_sources, None, ui.source, api_visibility="private")
    page_in = [ui.search, ui.page, lang, st]
    preview_in = [ui.model, ui.preview_row, ui.assistant_only, lang, st]
    on(ui.search.submit, h.show_page, page_in, "data_page")
    on(ui.page.submit, h.show_page, page_in)
    on(ui.prev.click, functools.partial(h.step_page, -1), page_in)
    on(ui.next.click, functools.partial(h.step_page, 1), page_in)
    on(ui.table.select, h.select_row, [lang, st]).then(
        h.preview_quiet, preview_in, out, api_visibility="private")
    on(ui.row_no.submit, h.open_row, [ui.row_no, lang, st], "data_open_row")
    on(ui.apply_edit.click, h.apply_edit, [ui.row_no, ui.editor, ui.search, lang, st],
       "data_edit")
    on(ui.add_row.click, h.add_row, [ui.editor, ui.search, lang, st], "data_add")
    on(ui.blank.click, h.blank_row, [lang, st])
    on(ui.delete_row.click, h.delete_row, [ui.row_no, ui.search, lang, st], "data_delete")
    on(ui.undo.click, h.undo, [ui.search, lang, st], "data_undo")
    on(ui.render.click, h.preview, preview_in, "data_preview")
    on(ui.preview_row.submit, h.preview, preview_in)
    on(ui.measure.click, h.measure, [ui.model, ui.max_length, lang, st], "data_lengths")
    on(ui.max_length.submit, h.measure, [ui.model, ui.max_length, lang, st])
    on(ui.save.click, h.save, [ui.save_name, lang, st], "data_save")
    on(lang.change, h.relabel, [lang, ui.search, ui.page, st])
    lang.change(lambda lv: gr.update(choices=text_split_choices(ctx, lv)), lang, ui.text_split,
                api_visibility="private", show_progress="hidden")


def _on(event, fn, inputs, api_name=None, *, outputs):
    """Wire one event; only events with an api_name are part of the public API."""
    return event(fn, inputs, outputs, api_name=api_name,
                 api_visibility="public" if api_name else "private",
                 show_progress="minimal")
