"""In headless Chromium: a chat that fails never leaves Send disabled until a reload.

The reported bug: an answer that failed after it started streaming left Send disabled and Stop
enabled (the last update the page got was "busy"), with a bare exception toast. Here a fault a
few tokens into an answer (a wrapped decode step raising what a GPU fault raises) and a run whose
tokenizer file was damaged after the page listed it must each end with the reason in the notice,
Send enabled and Stop disabled, and the next question must be answered on the same page.
"""

from __future__ import annotations

import pytest

from studio.engine.chat import decode
from tests.reliability.chat_support import damage, served_studio
from tests.ui_server import open_browser, screenshot

pytestmark = [pytest.mark.reliability, pytest.mark.browser]


@pytest.fixture(scope="module")
def chat(tmp_path_factory, tiny_model_dir):
    """The Chat tab of a served studio, open in Chromium: (studio, page)."""
    with served_studio(tmp_path_factory.mktemp("ws"), tiny_model_dir, spares=1) as studio, \
            open_browser(width=1440, height=900) as page:
        page.set_default_timeout(60_000)
        page.goto(studio.url, wait_until="load", timeout=120_000)
        page.get_by_role("tab", name="4 · Chat").click()
        yield studio, page


def send(page, text: str) -> None:
    page.locator("#chat-input textarea").fill(text)
    page.locator("#chat-send").click()


def expect_ready_after_error(page, message: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#chat-notice")).to_contain_text(message, timeout=60_000)
    expect(page.locator("#chat-send")).to_be_enabled()
    expect(page.locator("#chat-stop")).to_be_disabled()
    assert page.locator(".toast-body").count() == 0  # the notice explains; no bare traceback


def expect_answered(page) -> None:
    from playwright.sync_api import expect

    # Generous: picking another run loads its adapter first, slow on a busy 2-core machine.
    expect(page.locator("#chat-stats")).to_contain_text("tokens/s", timeout=180_000)
    expect(page.locator("#chat-send")).to_be_enabled()
    expect(page.locator("#chat-notice")).to_be_hidden()


def pick(page, run_id: str) -> None:
    """Pick a run and wait until the panes show the pick's fresh start, as a person sees it
    before asking: a Send racing the pick's reset would carry the last run's conversation."""
    from playwright.sync_api import expect

    page.locator("#chat-run input").click()
    page.get_by_role("option", name=f"{run_id} · completed").click()
    for pane in ("#chat-left", "#chat-right"):
        expect(page.locator(f"{pane} [data-testid='user']")).to_have_count(0)


def test_a_fault_mid_answer_leaves_send_enabled_with_the_reason(chat, monkeypatch):
    studio, page = chat
    original, steps = decode._step, []

    def failing(*args, **kwargs):
        steps.append(1)
        if len(steps) > 3:  # tokens already streamed: the page is in its "busy" state
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return original(*args, **kwargs)

    monkeypatch.setattr(decode, "_step", failing)
    send(page, "Tell me a story.")
    expect_ready_after_error(page, "The answer stopped on an error")
    screenshot(page, "reliability_chat_fault")
    monkeypatch.undo()
    page.locator("#chat-send").click()  # the question is still in the box
    expect_answered(page)


def test_a_run_damaged_after_it_was_listed_is_explained_and_send_comes_back(chat):
    studio, page = chat
    broken = studio.spares[0]
    damage(broken.path, "tokenizer")
    pick(page, broken.id)
    send(page, "Who are you?")
    expect_ready_after_error(page, "tokenizer saved with")
    pick(page, studio.run_id)
    send(page, "Who are you?")
    expect_answered(page)
