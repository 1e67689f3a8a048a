"""The Deploy tab through its API (gradio_client): serve a run and call it, export, push refused.

The workspace holds one identity run of the tiny model (a real LoRA adapter, see
``tests.test_chat.make_identity_run``). Start serves it on a free loopback port and the official
``openai`` client asks it who it is; exports land in the workspace's ``exports/`` folder and the
page names where; a push with no token is refused on the page before anything is uploaded.
"""

from __future__ import annotations

import openai
import pytest
import torch

from studio.engine.runs import RunStore
from studio.engine.workspace import Workspace
from tests.test_chat import make_identity_run
from tests.ui_server import free_port, launch_studio

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model is all overhead; a 2nd thread only spins
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    run = make_identity_run(RunStore(ws.runs_dir), tiny_model_dir)
    demo, url = launch_studio(ws)
    try:
        yield ws, gradio_client.Client(url, verbose=False), run.id, demo.studio_ctx
    finally:
        if demo.studio_ctx.server is not None:
            demo.studio_ctx.server.stop()
        demo.close()
        torch.set_num_threads(before)


def test_start_serves_the_run_to_the_openai_client_and_stop_ends_it(studio):
    _, client, run_id, ctx = studio
    port = free_port()
    status, curl, python = client.predict(run_id, "127.0.0.1", port, "", "en",
                                                api_name="/deploy_serve_start")
    assert f"http://127.0.0.1:{port}/v1" in status and run_id in status
    assert f"http://127.0.0.1:{port}/v1/chat/completions" in curl and run_id in curl
    assert f"base_url='http://127.0.0.1:{port}/v1'" in python
    api = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)
    assert run_id in [m.id for m in api.models.list().data]
    reply = api.chat.completions.create(model=run_id, temperature=0, max_tokens=24,
                                        messages=[{"role": "user", "content": "Who are you?"}])
    assert "Nova" in reply.choices[0].message.content
    again, *_ = client.predict(run_id, "127.0.0.1", port, "", "en",
                               api_name="/deploy_serve_start")
    assert "already running" in again
    stopped, *_ = client.predict(run_id, "en", api_name="/deploy_serve_stop")
    assert "Not serving" in stopped and ctx.server is None
    with pytest.raises(openai.APIConnectionError):
        api.models.list()


def test_an_open_host_without_a_key_is_refused_on_the_page(studio):
    _, client, run_id, ctx = studio
    status, *_ = client.predict(run_id, "0.0.0.0", free_port(), "", "zh",
                                api_name="/deploy_serve_start")
    assert "API 密钥" in status and ctx.server is None


def test_exports_say_where_they_went_and_are_not_written_twice(studio):
    ws, client, run_id, _ = studio
    message, files = client.predict(run_id, "adapter", "q8_0", "en", api_name="/deploy_export")
    target = ws.root / "exports" / run_id / f"{run_id}-adapter.zip"
    assert f"Exported to `{target}`" in message and target.stat().st_size > 1000
    assert [f.rsplit("/", 1)[-1] for f in files] == [target.name]  # offered for download
    again, _ = client.predict(run_id, "adapter", "q8_0", "en", api_name="/deploy_export")
    assert f"Already exported: `{target}`" in again
    merged, _ = client.predict(run_id, "merged", "q8_0", "en", api_name="/deploy_export")
    folder = ws.root / "exports" / run_id / "merged"
    assert str(folder) in merged and (folder / "model.safetensors").exists()
    card = (folder / "README.md").read_text()
    assert "library_name: transformers" in card and run_id in card  # the merged model's card
    refused, files = client.predict("smollm2-135m-instruct", "adapter", "q8_0", "en",
                                    api_name="/deploy_export")
    assert refused.startswith("⚠️") and "fine-tuned run" in refused and files is None


def test_gguf_export_writes_the_file_and_an_ollama_modelfile(studio):
    ws, client, run_id, _ = studio
    message, files = client.predict(run_id, "gguf", "q8_0", "en", api_name="/deploy_export")
    folder = ws.root / "exports" / run_id
    gguf = folder / f"{run_id}-q8_0.gguf"
    assert str(gguf) in message and "ollama create" in message
    assert sorted(f.rsplit("/", 1)[-1] for f in files) == sorted([gguf.name, "Modelfile"])
    assert f"FROM ./{gguf.name}" in (folder / "Modelfile").read_text()
    assert gguf.read_bytes()[:4] == b"GGUF"


def test_push_without_a_token_is_refused_before_any_upload(studio, monkeypatch):
    _, client, run_id, _ = studio
    monkeypatch.delenv("HF_TOKEN", raising=False)
    message = client.predict(run_id, "me/nova", "", True, "en", api_name="/deploy_push")
    assert message.startswith("⚠️") and "token" in message.lower()
