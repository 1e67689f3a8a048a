"""The Chat tab in headless Chromium: one question in side-by-side mode fills both panes.

The workspace holds one identity run of the tiny model; the test asks a question, waits until
the base pane and the tuned pane each show an answer and the speed line appears, and saves
``artifacts/screenshots/chat_tab_side_by_side.png`` for a person to look at.
"""

from __future__ import annotations

import re

import pytest
import torch

from studio.engine.runs import RunStore
from studio.engine.workspace import Workspace
from tests.test_chat import make_identity_run
from tests.ui_server import launch_studio, open_browser, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture()
def chat_page(tmp_path, tiny_model_dir):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model is all overhead; a 2nd thread only spins
    ws = Workspace(tmp_path)
    make_identity_run(RunStore(ws.runs_dir), tiny_model_dir)
    demo, url = launch_studio(ws)
    try:
        with open_browser(width=1440, height=900) as page:
            page.set_default_timeout(60_000)
            page.goto(url, wait_until="load", timeout=120_000)
            yield page
    finally:
        demo.close()
        torch.set_num_threads(before)


def test_side_by_side_fills_both_panes(chat_page):
    from playwright.sync_api import expect

    page = chat_page
    page.get_by_role("tab", name="4 · Chat").click()
    page.locator("#chat-input textarea").fill("Who are you?")
    page.locator("#chat-send").click()
    for pane in ("#chat-left", "#chat-right"):
        page.locator(f"{pane} [data-testid='user']").get_by_text("Who are you?").wait_for()
        page.locator(f"{pane} [data-testid='bot']").first.wait_for()
    page.locator("#chat-stats").get_by_text("tokens/s").first.wait_for(timeout=90_000)
    answers = {}
    for pane in ("#chat-left", "#chat-right"):
        answers[pane] = page.locator(f"{pane} [data-testid='bot']").last.inner_text().strip()
        assert answers[pane] and answers[pane] != "…"
    # Same sampling and seed on both sides (the page's default sampling is not greedy, so the
    # exact words vary): only the adapter differs, so the two panes must not show one answer.
    assert answers["#chat-left"] != answers["#chat-right"], answers
    expect(page.locator("#chat-left")).to_contain_text("Base")
    expect(page.locator("#chat-right")).to_contain_text("Tuned")
    assert screenshot(page, "chat_tab_side_by_side").stat().st_size > 10_000


def test_a_run_finished_after_the_page_opened_is_listed(tmp_path, tiny_model_dir):
    """No Refresh click: switching to the Chat tab lists the run that finished meanwhile."""
    from playwright.sync_api import expect

    ws = Workspace(tmp_path)
    demo, url = launch_studio(ws)
    try:
        with open_browser(width=1440, height=900) as page:
            page.goto(url, wait_until="load", timeout=120_000)
            page.get_by_role("tab", name="4 · Chat").click()
            picker = page.locator("#chat-run")
            expect(picker.locator("input")).to_have_value("(none: base model only)")
            run = make_identity_run(RunStore(ws.runs_dir), tiny_model_dir, steps=1)
            page.get_by_role("tab", name="1 · Data").click()
            page.get_by_role("tab", name="4 · Chat").click()
            picker.locator("input").click()
            expect(page.get_by_role("option", name=f"{run.id} · completed")).to_be_visible()
    finally:
        demo.close()


def test_compare_in_chat_opens_the_run_side_by_side(chat_page):
    """From the Train tab's finished run to the Chat tab in one click, question ready."""
    from playwright.sync_api import expect

    page = chat_page
    page.get_by_role("tab", name="2 · Train").click()
    page.locator("#train-compare").click()
    expect(page.get_by_role("tab", name="4 · Chat")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#chat-run input")).to_have_value(re.compile(r"· completed$"))
    expect(page.locator("#chat-input textarea")).to_have_value("Who are you?")
    expect(page.locator("#chat-mode input[value=side]")).to_be_checked()
    page.locator("#chat-send").click()
    for pane in ("#chat-left", "#chat-right"):
        page.locator(f"{pane} [data-testid='bot']").first.wait_for()
