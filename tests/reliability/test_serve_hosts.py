"""Loopback is not a boundary on its own: the API server refuses requests for other hosts.

A web page on another site can point its own domain at 127.0.0.1 (DNS rebinding) and have the
browser call the local server; the request then carries that domain as its Host, or the page's
site as its Origin. Both are refused with an OpenAI-shaped 403, and the server goes on answering
the real clients.
"""

from __future__ import annotations

import httpx
import openai
import pytest

from studio.engine.serve.server import ServeOptions, StudioServer
from tests.ui_server import free_port

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    server = StudioServer(ServeOptions(model=str(tiny_model_dir), port=free_port(),
                                       dtype="float32")).start()
    yield server
    server.stop()


def test_other_hosts_and_origins_are_refused(server, tiny_model_dir):
    url = server.options.url
    port = server.options.port
    rebound = httpx.get(f"{url}/models", headers={"Host": f"attacker.example:{port}"})
    assert rebound.status_code == 403
    assert rebound.json()["error"]["code"] == "serve_host"
    body = {"model": tiny_model_dir.name, "messages": [{"role": "user", "content": "hi"}]}
    cross = httpx.post(f"{url}/chat/completions", json=body,
                       headers={"Origin": "https://attacker.example"})
    assert cross.status_code == 403 and "another site" in cross.json()["error"]["message"]
    client = openai.OpenAI(base_url=url, api_key="none", max_retries=0)
    assert [m.id for m in client.models.list().data] == [tiny_model_dir.name]
    local = httpx.get(f"http://localhost:{port}/v1/models",
                      headers={"Origin": f"http://localhost:{port}"})
    assert local.status_code == 200  # a page served from this very server may call it
