"""The Deploy tab: put a finished run (or the base model) to work.

Three panels on one picked model. **Serve** starts the OpenAI-compatible server in the app (it
outlives the page; Start and Stop follow its state) and shows a curl line and a Python ``openai``
snippet for the model, ready to copy. **Export** writes a merged safetensors folder, the adapter as
a zip, or a GGUF file with an Ollama Modelfile, and says where each went. **Hub** pushes the
merged model to the Hugging Face Hub, private unless unticked; the token field is a password box
and the token is used for that push only. The layout lives here; ``actions`` does the work.
"""

from __future__ import annotations

import gradio as gr

from studio.engine.export.deploy import KINDS
from studio.engine.export.gguf import GGUF_QUANTS
from studio.ui.deploy import actions as a


def quant_choices(ctx, lang: str) -> list[tuple[str, str]]:
    """The GGUF precisions, each with what it trades, in ``lang``."""
    return [(f"{k} · {ctx.t(f'deploy.quant.{k}', lang)}", k) for k in GGUF_QUANTS]


def build(ctx, demo: gr.Blocks, page: gr.Tab) -> None:
    tr, c = ctx.tr, {}
    tr(gr.Markdown, texts={"value": "deploy.intro"}, elem_id="deploy-intro")
    choices = a.model_choices(ctx)  # reads every run folder: once
    with gr.Row():
        c["pick"] = tr(gr.Dropdown, texts={"label": "deploy.model", "info": "deploy.model.help"},
                       choices=choices, value=choices[0][1],
                       allow_custom_value=True, scale=4, elem_id="deploy-model")
        c["refresh"] = tr(gr.Button, texts={"value": "deploy.refresh"}, scale=1, min_width=100,
                          elem_id="deploy-refresh")
    with gr.Group():
        tr(gr.Markdown, texts={"value": "deploy.serve.title"})
        with gr.Row():
            c["host"] = tr(gr.Textbox, texts={"label": "deploy.serve.host",
                                              "info": "deploy.serve.host.help"},
                           value="127.0.0.1", elem_id="deploy-host")
            c["port"] = tr(gr.Number, texts={"label": "deploy.serve.port"}, value=8000,
                           precision=0, minimum=1, maximum=65535, elem_id="deploy-port")
            c["key"] = tr(gr.Textbox, texts={"label": "deploy.serve.key",
                                             "info": "deploy.serve.key.help"},
                          type="password", elem_id="deploy-key")
        with gr.Row():
            c["start"] = tr(gr.Button, texts={"value": "deploy.serve.start"}, variant="primary",
                            elem_id="deploy-start")
            c["stop"] = tr(gr.Button, texts={"value": "deploy.serve.stop"}, variant="stop",
                           interactive=False, elem_id="deploy-stop")
        c["status"] = gr.Markdown(elem_id="deploy-status")
        with gr.Row():
            c["curl"] = tr(gr.Code, texts={"label": "deploy.serve.curl"}, language="shell",
                           interactive=False, elem_id="deploy-curl")
            c["python"] = tr(gr.Code, texts={"label": "deploy.serve.python"}, language="python",
                             interactive=False, elem_id="deploy-python")
    with gr.Group():
        tr(gr.Markdown, texts={"value": "deploy.export.title"})
        with gr.Row():
            c["kind"] = tr(gr.Radio, texts={"label": "deploy.export.kind",
                                            "info": "deploy.export.kind.help"},
                           choices=list(KINDS), value="gguf", elem_id="deploy-kind", scale=3)
            c["quant"] = tr(gr.Dropdown, texts={"label": "deploy.export.quant"},
                            choices=quant_choices(ctx, "en"),
                            value="q8_0", elem_id="deploy-quant", scale=3)
            c["export"] = tr(gr.Button, texts={"value": "deploy.export.go"}, variant="primary",
                             scale=1, elem_id="deploy-export")
        c["export_msg"] = gr.Markdown(elem_id="deploy-export-message")
        c["files"] = tr(gr.File, texts={"label": "deploy.export.files"}, file_count="multiple",
                        interactive=False, elem_id="deploy-files")
    with gr.Group():
        tr(gr.Markdown, texts={"value": "deploy.push.title"})
        with gr.Row():
            c["repo"] = tr(gr.Textbox, texts={"label": "deploy.push.repo"},
                           placeholder="your-name/nova-135m", elem_id="deploy-repo")
            c["token"] = tr(gr.Textbox, texts={"label": "deploy.push.token",
                                               "info": "deploy.push.token.help"},
                            type="password", elem_id="deploy-token")
            c["private"] = tr(gr.Checkbox, texts={"label": "deploy.push.private"}, value=True,
                              elem_id="deploy-private")
        c["push"] = tr(gr.Button, texts={"value": "deploy.push.go"}, elem_id="deploy-push")
        c["push_msg"] = gr.Markdown(elem_id="deploy-push-message")
    # What serving, the export and the push said, in every language ({"serve": {lang: text},
    # ...}): a language switch shows it again translated.
    c["said"] = gr.State({})
    _wire(ctx, demo, page, c)


def _wire(ctx, demo: gr.Blocks, page: gr.Tab, c: dict) -> None:
    lang = ctx.lang
    said = c["said"]
    view_out = [c["status"], c["start"], c["stop"], c["curl"], c["python"], said]
    quiet = {"show_progress": "hidden"}

    def text(texts: dict, lang_: str) -> str:
        return texts.get(lang_, texts.get("en", "")) if texts else ""

    def without(said_, key):
        return {k: v for k, v in (said_ or {}).items() if k != key}

    def show(pick, said_, lang_):  # a fresh view: what serving said before is dropped
        return *a.serve_view(ctx, pick, lang_), without(said_, "serve")

    def relabel(pick, said_, lang_):
        """The picker (it names the base model in words) and every message, in ``lang_``."""
        said_ = said_ or {}
        again = [text(said_[k], lang_) if said_.get(k) else gr.skip() for k in ("export", "push")]
        return (a.fresh_models(ctx, pick, lang_),
                *a.serve_view(ctx, pick, lang_, text(said_.get("serve"), lang_)), said_, *again)

    def start(pick, host, port, key, said_, lang_):
        said_ = without(said_, "serve")
        yield *a.serve_view(ctx, pick, lang_, ctx.t("deploy.serve.starting", lang_)), said_
        message = a.start_server(ctx, pick, host, port, key)
        yield *a.serve_view(ctx, pick, lang_, text(message, lang_)), {**said_, "serve": message}

    def stop(pick, said_, lang_):
        a.stop_server(ctx)
        return show(pick, said_, lang_)

    def export(pick, kind, quant, said_, lang_):
        said_ = without(said_, "export")
        yield ctx.t("deploy.export.working", lang_, kind=kind), None, said_
        message, files = a.export(ctx, pick, kind, quant)
        yield text(message, lang_), files, {**said_, "export": message}

    def push(pick, repo, token, private, said_, lang_):
        said_ = without(said_, "push")
        yield ctx.t("deploy.push.working", lang_), said_
        message = a.push(ctx, pick, repo, token, private)
        yield text(message, lang_), {**said_, "push": message}

    pick_in = [c["pick"], said, lang]
    for event in (demo.load, page.select, c["refresh"].click):
        event(lambda pick, lang_: a.fresh_models(ctx, pick, lang_), [c["pick"], lang],
              c["pick"], **quiet).then(show, pick_in, view_out, **quiet)
    c["pick"].change(show, pick_in, view_out, **quiet)
    lang.change(relabel, pick_in, [c["pick"], *view_out, c["export_msg"], c["push_msg"]],
                **quiet)
    lang.change(lambda lang_: gr.update(choices=quant_choices(ctx, lang_)), lang, c["quant"],
                **quiet)
    c["start"].click(start, [c["pick"], c["host"], c["port"], c["key"], said, lang], view_out,
                     api_name="deploy_serve_start", concurrency_limit=1)
    c["stop"].click(stop, pick_in, view_out, api_name="deploy_serve_stop")
    c["kind"].change(lambda kind: gr.update(visible=kind == "gguf"), c["kind"], c["quant"])
    c["export"].click(export, [c["pick"], c["kind"], c["quant"], said, lang],
                      [c["export_msg"], c["files"], said], api_name="deploy_export",
                      concurrency_limit=1)
    c["push"].click(push, [c["pick"], c["repo"], c["token"], c["private"], said, lang],
                    [c["push_msg"], said], api_name="deploy_push", concurrency_limit=1)
