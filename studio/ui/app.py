"""The Gradio app: a header with the language switch, then one tab per step of the workflow.

Each tab is its own package whose ``tab.build`` lays it out; this file only orders them, hands
each the handles of the tabs it works with, and wires the language switch. Tabs read the run
folders (never a browser's memory), so closing the page never changes a run. ``launch`` serves
the app the one way app.py and the tests share: behind ``PageGuard`` on loopback, with the
operator's upload limit, a bounded queue, and only ``SCRIPT_ENDPOINTS`` in the public API.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from studio.engine.serve.hosts import is_loopback, loopback_hosts
from studio.ui.chat import tab as chat_tab
from studio.ui.context import StudioContext
from studio.ui.data import tab as data_tab
from studio.ui.deploy import tab as deploy_tab
from studio.ui.guard import PageGuard
from studio.ui.i18n import LANGS
from studio.ui.runs import tab as runs_tab
from studio.ui.scoring import tab as scoring_tab
from studio.ui.train import tab as train_tab

CSS = Path(__file__).with_name("studio.css")
# Pick Chinese on first load when the browser prefers it; the radio can change it any time.
DETECT_LANG = "() => (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en'"
# The studio's API for scripts (README: "Scripting the studio"). Every other event is page
# plumbing: hidden from the API page and refused by gradio_client.
SCRIPT_ENDPOINTS = frozenset({
    "data_load", "data_upload", "data_apply_mapping", "data_page", "data_open_row",
    "data_edit", "data_add", "data_delete", "data_undo", "data_preview", "data_lengths",
    "data_save", "load_preset", "check", "start", "stop", "resume", "poll", "headless",
    "save_preset", "runs_list", "run_open", "run_clone", "run_resume", "run_delete",
    "runs_compare", "chat_pick", "chat_send", "chat_stop", "chat_clear", "chat_vote_a",
    "chat_vote_b", "chat_vote_tie", "chat_vote_bad", "scoring_subjects", "scoring_start",
    "scoring_poll", "scoring_stop", "deploy_serve_start", "deploy_serve_stop",
    "deploy_export", "deploy_push", "forgetting_rerun", "run_forgetting_rerun",
    "chat_train_votes", "chat_judge", "chat_judge_status"})
QUEUE_SIZE = 64  # waiting events beyond this are refused at once ("queue full"), not piled up


def device_text() -> tuple[str, dict]:
    """The header's device line, as a translation key and its facts."""
    import torch

    if torch.cuda.is_available():
        return "app.device.gpu", {"name": torch.cuda.get_device_name(0)}
    return "app.device.cpu", {"threads": torch.get_num_threads()}


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
                tr(gr.Markdown, texts={"value": device_text()}, elem_id="studio-device")
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
        chat_tab.wire_votes_run(ctx, tabs, chat, train)
        ctx.lang.change(tr.updates, inputs=ctx.lang, outputs=tr.components,
                        show_progress="hidden")
        demo.load(None, js=DETECT_LANG, outputs=ctx.lang)
    hide_plumbing(demo)
    return demo


def hide_plumbing(demo: gr.Blocks) -> None:
    for fn in demo.fns.values():
        if fn.api_name not in SCRIPT_ENDPOINTS:
            fn.api_visibility = "private"


@dataclass
class LaunchOptions:
    """How the operator serves the studio (app.py's flags)."""

    host: str = "127.0.0.1"
    port: int = 7860
    auth: tuple[str, str] | None = None
    share: bool = False
    token: str | None = None  # asked of every request when set (--token)
    max_upload: str = "200mb"  # Gradio refuses bigger uploads before they reach a handler

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host, self.share)


def launch(demo: gr.Blocks, ctx: StudioContext, options: LaunchOptions, **extra):
    """Serve ``demo``; ``extra`` goes to ``demo.launch`` as is (the tests pass
    ``prevent_thread_lock``). Returns what ``demo.launch`` returns."""
    # A shared link or a public address has a login in front (app.py insists), and its Host is
    # whatever name the users reach it by; loopback has only this guard.
    hosts = loopback_hosts(options.port) if options.loopback else None
    guard = Middleware(PageGuard, hosts=hosts, token=options.token)
    demo.queue(default_concurrency_limit=4, max_size=QUEUE_SIZE)
    return demo.launch(
        server_name=options.host, server_port=options.port, auth=options.auth,
        share=options.share, max_file_size=options.max_upload,
        app_kwargs={"middleware": [guard]},
        css=CSS.read_text(encoding="utf-8") if CSS.exists() else None,
        theme=gr.themes.Soft(primary_hue="indigo", secondary_hue="sky"),
        # The exports folder's files are offered for download; nothing else outside the
        # workspace is served.
        allowed_paths=[str(ctx.workspace.root / "exports")], **extra)
