"""The Data tab in headless Chromium: load a dataset, open a row, preview it, switch to Chinese.

Screenshots land in ``artifacts/screenshots/data_tab_en.png`` and ``data_tab_zh.png`` so a person
can see the layout on a laptop-sized window. The tiny test tokenizer renders the preview, so the
test needs no downloaded or bundled model.
"""

from __future__ import annotations

import contextlib
import json
import re

import pytest

from tests.ui_server import launch_studio, open_browser, screenshot

pytestmark = pytest.mark.browser


@contextlib.contextmanager
def data_page(*roots):
    """The studio on a workspace at ``roots[0]`` (the rest readable), open in Chromium."""
    from studio.engine.workspace import Workspace

    demo, url = launch_studio(Workspace(roots[0], list(roots[1:])))
    try:
        with open_browser(width=1440, height=900) as page:
            # Other tabs poll with timers, so the network never goes idle: wait for the tab.
            page.goto(url, wait_until="load")
            page.locator("#data-load").wait_for(timeout=30_000)
            yield page
    finally:
        demo.close()


def load_dataset(page, model_dir, source) -> None:
    """Pick the tokenizer and the dataset as a person types them, then press Load."""
    for label, value in (("Tokenizer of model", model_dir), ("Dataset", source)):
        box = page.get_by_label(label, exact=True)
        box.fill(str(value))
        box.press("Enter")
    page.locator("#data-load").click()


@pytest.fixture()
def studio_page(tmp_path, tiny_model_dir, shared_datasets):
    with data_page(tmp_path, shared_datasets, tiny_model_dir.parent) as page:
        yield page


def test_data_tab_in_chromium(studio_page, tiny_model_dir, shared_datasets):
    from playwright.sync_api import expect

    page = studio_page
    page.get_by_role("tab", name="1 · Data").click()
    load_dataset(page, tiny_model_dir, shared_datasets / "alpaca_zh_demo.json")
    status = page.locator("#data-status")
    expect(status).to_contain_text("Loaded 1000 rows", timeout=20_000)
    expect(status).to_contain_text("Detected format: alpaca")
    page.locator("#data-stats svg").wait_for(timeout=30_000)
    expect(page.locator("#data-stats")).to_contain_text(re.compile(r"max length \d+"))
    cell = page.locator("#data-table [role=gridcell]").filter(has_text="比较以下两位著名人物")
    cell.filter(visible=True).first.click()
    preview = page.locator("#data-preview")
    expect(preview).to_contain_text(re.compile("Row 3|第 3 行"), timeout=20_000)
    expect(preview).to_contain_text("比较以下两位著名人物")  # the clicked row, as the model sees it
    editor_text = page.locator("#data-editor").inner_text()
    assert '"messages"' in editor_text and "比较以下两位著名人物" in editor_text
    shot = screenshot(page, "data_tab_en")
    assert shot.stat().st_size > 10_000

    page.get_by_text("中文", exact=True).click()
    expect(status).to_contain_text("已从", timeout=10_000)
    expect(status).to_contain_text("载入 1000 行")
    expect(page.get_by_role("tab", name="1 · 数据")).to_be_visible(timeout=30_000)
    expect(preview.get_by_text("参与训练").first).to_be_visible(timeout=10_000)
    page.get_by_role("button", name="格式与列映射").click()
    expect(page.get_by_label("指令列")).to_be_visible(timeout=10_000)
    screenshot(page, "data_tab_zh")


def test_a_tool_call_row_as_the_model_sees_it(tmp_path, tiny_model_dir):
    """A function-calling row: the preview shows the call the model learns (the tiny template has
    no tool slot, so the documented <tool_call> fallback) and says which rendering applied."""
    from playwright.sync_api import expect

    from tests.test_data_shapes import OPENAI_TOOLS

    (tmp_path / "tools.jsonl").write_text(json.dumps(OPENAI_TOOLS) + "\n", encoding="utf-8")
    with data_page(tmp_path, tiny_model_dir.parent) as page:
        load_dataset(page, tiny_model_dir, tmp_path / "tools.jsonl")
        expect(page.locator("#data-status")).to_contain_text("Loaded 1 rows",
                                                              timeout=20_000)
        expect(page.get_by_text("No problems found.")).to_be_visible()
        page.locator("#data-table [role=gridcell]").filter(
            has_text="Weather in Paris").filter(visible=True).first.click()
        preview = page.locator("#data-preview")
        expect(preview).to_contain_text('<tool_call>\n{"name": "get_weather"',
                                        timeout=20_000)
        expect(preview).to_contain_text("You can call these tools")
        expect(preview).to_contain_text("this model's chat template has no tool slot")
        screenshot(page, "data_tab_tool_call")
