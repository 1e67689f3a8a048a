"""The Deploy tab in headless Chromium: start the server, copy the curl line, export a GGUF.

A person's path through the tab on a workspace with one identity run of the tiny model: Start
(the Stop button becomes usable and Start does not), the status and the curl line name the port,
Export GGUF names the file and offers it with its Modelfile for download, Stop. Saves
``artifacts/screenshots/deploy_tab.png``.
"""

from __future__ import annotations

import pytest
import torch

from studio.engine.runs import RunStore
from studio.engine.workspace import Workspace
from tests.test_chat import make_identity_run
from tests.ui_server import free_port, launch_studio, open_browser, screenshot

pytestmark = pytest.mark.browser


def test_serve_and_export_from_the_deploy_tab(tmp_path, tiny_model_dir):
    from playwright.sync_api import expect

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model is all overhead; a 2nd thread only spins
    ws = Workspace(tmp_path)
    run = make_identity_run(RunStore(ws.runs_dir), tiny_model_dir)
    demo, url = launch_studio(ws)
    port = free_port()
    try:
        with open_browser(width=1440, height=1000) as page:
            page.set_default_timeout(60_000)
            page.goto(url, wait_until="load", timeout=120_000)
            page.get_by_role("tab", name="6 · Deploy").click()
            expect(page.locator("#deploy-status")).to_contain_text("Not serving")
            expect(page.locator("#deploy-stop")).to_be_disabled()
            page.locator("#deploy-port input").fill(str(port))
            page.locator("#deploy-start").click()
            status = page.locator("#deploy-status")
            expect(status).to_contain_text(f"http://127.0.0.1:{port}/v1", timeout=90_000)
            expect(status).to_contain_text(run.id)
            expect(page.locator("#deploy-stop")).to_be_enabled()
            expect(page.locator("#deploy-start")).to_be_disabled()
            expect(page.locator("#deploy-curl")).to_contain_text(
                f"curl http://127.0.0.1:{port}/v1/chat/completions")
            page.locator("#deploy-export").click()  # GGUF q8_0 is the default choice
            message = page.locator("#deploy-export-message")
            expect(message).to_contain_text(f"{run.id}-q8_0.gguf", timeout=120_000)
            expect(message).to_contain_text("ollama create")
            files = page.locator("#deploy-files")
            expect(files).to_contain_text("Modelfile")
            expect(files).to_contain_text(f"{run.id}-q8_0")  # the page shows the name and
            expect(files).to_contain_text(".gguf")  # the extension apart
            screenshot(page, "deploy_tab")
            page.locator("#deploy-stop").click()
            expect(status).to_contain_text("Not serving")
            expect(page.locator("#deploy-start")).to_be_enabled()
    finally:
        if demo.studio_ctx.server is not None:
            demo.studio_ctx.server.stop()
        demo.close()
        torch.set_num_threads(before)
