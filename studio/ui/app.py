"""The Gradio app: a header with the language switch, then one tab per step of the workflow.

Each tab is its own package whose ``tab.build`` lays it out; this file only orders them, hands
each the handles of the tabs it works with, and wires the language switch. Tabs read the run
folders (never a browser's memory), so closing the page never changes a run.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio.ui.chat import tab as chat_tab
from studio.ui.context import StudioContext
from studio.ui.data import tab as data_tab
from studio.ui.deploy import tab as deploy_tab
from studio.ui.i18n import LANGS
from studio.ui.runs import tab as runs_tab
from studio.ui.scoring import tab as scoring_tab
from studio.ui.train import tab as train_tab

CSS = Path(__file__).with_name("studio.css")
# Pick Chinese on first load when the browser prefers it; the radio can change it any time.
DETECT_LANG = "() => (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en'"


def device_label() -> str:
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"CPU · {torch.get_num_threads()} threads"


def tab(ctx: StudioContext, name: str) -> gr.Tab:
    return ctx.tr(gr.Tab, texts={"label": f"tab.{name}"}, id=name)


def build_app(ctx: StudioContext) -> gr.Blocks:
    tr = ctx.tr
    with gr.Blocks(title="Fine-Tune Studio") as demo:
        with gr.Row(elem_id="studio-header", equal_height=True):
            with gr.Column(scale=5):
                tr(gr.Markdown, texts={"value": "app.title"}, elem_id="studio-title")
                tr(gr.Markdown, texts={"value": "app.subtitle"}, elem_id="studio-subtitle")
            with gr.Column(scale=2, min_width=220):
                ctx.lang = tr(gr.Radio, texts={"label": "app.language"},
                              choices=[(name, code) for code, name in LANGS.items()],
                              value="en", elem_id="studio-lang")
                gr.Markdown(device_label(), elem_id="studio-device")
        with gr.Tabs() as tabs:
            # Build order is the dependency order: each tab gets the handles it needs.
            with tab(ctx, "data"):
                data = data_tab.build(ctx)
            with tab(ctx, "train"):
                train = train_tab.build(ctx, demo, data)
            with tab(ctx, "runs"):
                runs = runs_tab.build(ctx, demo, tabs, train)
            with tab(ctx, "chat") as chat_page:
                chat = chat_tab.build(ctx, demo, chat_page)
            with tab(ctx, "scoring"):
                scoring_tab.build(ctx)
            with tab(ctx, "deploy") as deploy_page:
                deploy_tab.build(ctx, demo, deploy_page)
        for handles, run_source in ((train, train.watch), (runs, runs.pick)):
            chat_tab.wire_compare(ctx, tabs, chat, handles.compare, run_source)
        ctx.lang.change(tr.updates, inputs=ctx.lang, outputs=tr.components,
                        show_progress="hidden")
        demo.load(None, js=DETECT_LANG, outputs=ctx.lang)
    return demo


def launch_kwargs(ctx: StudioContext) -> dict:
    """Arguments for ``demo.launch`` shared by app.py and the tests (the exports folder may be
    outside the working folder; its files are offered for download)."""
    return {"css": CSS.read_text(encoding="utf-8") if CSS.exists() else None,
            "theme": gr.themes.Soft(primary_hue="indigo", secondary_hue="sky"),
            "allowed_paths": [str(ctx.workspace.root / "exports")]}
