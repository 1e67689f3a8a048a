"""What the Deploy tab's buttons do, as plain functions of the context (tested through the API).

The server belongs to the app, not to a browser tab (``ctx.server``): it keeps serving when the
page closes, and any page that opens shows it running with Stop enabled. Exports go to the
workspace's ``exports/`` folder and every result names the full path, so "where is my model?" is
answered on the page; files a person can take away (zip, GGUF, Modelfile) are offered for download.
A pick that is not a run is a typed model and goes through the workspace like any other (the
bundled model, a hub id, or a folder inside the allowed roots), so the page cannot serve, export
or push a folder from anywhere on the server's disk. What serving, an export or a push says is
returned in every language (``{lang: text}``), so a language switch shows it again translated.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio.engine.chat.targets import finished_runs
from studio.engine.errors import USER_ERRORS
from studio.engine.export.space import human_size
from studio.engine.models import BUNDLED_ID
from studio.engine.runs import is_run_folder
from studio.engine.serve import snippets
from studio.ui.i18n import said


def model_choices(ctx, lang: str = "en") -> list[tuple[str, str]]:
    base = (ctx.t("deploy.base", lang, model=BUNDLED_ID), BUNDLED_ID)
    return [*[(f"{r.id} · {r.config().model}", r.id) for r in finished_runs(ctx.store)], base]


def fresh_models(ctx, current: str, lang: str):
    choices = model_choices(ctx, lang)
    ids = [value for _, value in choices]
    return gr.update(choices=choices, value=current if current in ids else ids[0])


def source_of(ctx, pick: str):
    """A run for a run id, else the typed model as the workspace allows it (PathError if not)."""
    pick = (pick or "").strip() or BUNDLED_ID
    if Path(pick).name == pick and is_run_folder(ctx.store.root / pick):
        return ctx.store.get(pick)
    return ctx.workspace.model_source(pick)


def base_of(ctx, pick: str) -> str:
    source = source_of(ctx, pick)
    return source if isinstance(source, str) else source.config().model


def exports_root(ctx) -> Path:
    return ctx.workspace.writable("exports")


# ---------------------------------------------------------------------- serving
def serving(ctx) -> bool:
    return ctx.server is not None and ctx.server.running


def start_server(ctx, pick: str, host: str, port, key: str) -> dict[str, str]:
    """Start serving ``pick``; what to say about it in every language (nothing: started)."""
    from studio.engine.serve.server import ServeOptions, StudioServer

    if serving(ctx):
        url = ctx.server.options.url
        return said(lambda lg: ctx.t("deploy.serve.already", lg, url=url))
    try:
        options = ServeOptions(model=base_of(ctx, pick), host=(host or "").strip(),
                               port=int(port or 0), api_key=(key or "").strip())
        server = StudioServer(options, runs=ctx.store, workspace=ctx.workspace)
        server.warm()
        server.start()
    except (*USER_ERRORS, ValueError) as exc:
        return said(lambda lg, e=exc: f"⚠️ {ctx.tr.error(e, lg)}")
    ctx.server = server
    return {}


def stop_server(ctx) -> None:
    if ctx.server is not None:
        ctx.server.stop()
        ctx.server = None


def serve_view(ctx, pick: str, lang: str, message: str = "") -> tuple:
    """Status line, Start and Stop as the server's state allows, and the two snippets."""
    running = serving(ctx)
    if running:
        opts = ctx.server.options
        names = [e.name for e in ctx.server.service.registry.entries()]
        status = ctx.t("deploy.serve.running", lang, url=opts.url, models=", ".join(names))
        url, keyed = opts.url, bool(opts.api_key)
        if pick not in names:
            status += "\n\n" + ctx.t("deploy.serve.not_listed", lang, model=pick)
    else:
        status = ctx.t("deploy.serve.stopped", lang)
        url, keyed = "http://127.0.0.1:8000/v1", False
    if message:
        status = f"{message}\n\n{status}"
    name, prompt = pick or BUNDLED_ID, ctx.t("deploy.sample_prompt", lang)
    return (status, gr.update(interactive=not running), gr.update(interactive=running),
            snippets.curl(url, name, prompt, keyed), snippets.python(url, name, prompt, keyed))


# ---------------------------------------------------------------------- exports and the hub
def export(ctx, pick: str, kind: str, quant: str) -> tuple[dict[str, str], list[str] | None]:
    from studio.engine.export.deploy import export as export_source

    try:
        done = export_source(kind, source_of(ctx, pick), exports_root(ctx), quant)
    except (*USER_ERRORS, ValueError) as exc:
        return said(lambda lg, e=exc: f"⚠️ {ctx.tr.error(e, lg)}"), None
    key = "deploy.export.reused" if done.reused else "deploy.export.done"
    size = human_size(_size(done.path))

    def message(lg):
        lines = [ctx.t(key, lg, path=str(done.path), size=size)]
        if done.kind == "gguf":
            lines.append(ctx.t("deploy.export.ollama", lg, folder=str(done.path.parent),
                               name=done.path.stem.lower()))
        return "\n\n".join(lines)

    return said(message), [str(f) for f in done.files if f.exists()] or None


def push(ctx, pick: str, repo: str, token: str, private: bool) -> dict[str, str]:
    from studio.engine.export.deploy import export as export_source
    from studio.engine.export.hub import push_to_hub

    try:
        folder = export_source("merged", source_of(ctx, pick), exports_root(ctx)).path
        url = push_to_hub(folder, (repo or "").strip(), token=(token or "").strip() or None,
                          private=bool(private))
    except (*USER_ERRORS, ValueError) as exc:
        return said(lambda lg, e=exc: f"⚠️ {ctx.tr.error(e, lg)}")
    return said(lambda lg: ctx.t("deploy.push.done", lg, url=url, folder=str(folder)))


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
