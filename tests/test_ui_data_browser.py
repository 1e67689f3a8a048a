"""The Data tab in headless Chromium: load a dataset, open a row, preview it, switch to Chinese.

Screenshots land in ``artifacts/screenshots/data_tab_en.png`` and ``data_tab_zh.png`` so a person
can see the layout on a laptop-sized window. The tiny test tokenizer renders the preview, so the
test needs no downloaded or bundled model.
"""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_DATASETS
from tests.ui_server import launch_studio, open_browser, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture()
def studio_page(tmp_path, tiny_model_dir):
    from studio.engine.workspace import Workspace

    workspace = Workspace(tmp_path, [SHARED_DATASETS, tiny_model_dir.parent])
    demo, url = launch_studio(workspace)
    try:
        with open_browser(width=1440, height=900) as page:
            # Other tabs poll with timers, so the network never goes idle: wait for the tab.
            page.goto(url, wait_until="load")
            page.locator("#data-load").wait_for(timeout=30_000)
            yield page
    finally:
        demo.close()


def test_data_tab_in_chromium(studio_page, tiny_model_dir):
    page = studio_page
    page.get_by_role("tab", name="1 · Data").click()
    model = page.get_by_label("Tokenizer of model")
    model.fill(str(tiny_model_dir))
    model.press("Enter")
    source = page.get_by_label("Dataset", exact=True)
    source.fill(str(SHARED_DATASETS / "alpaca_zh_demo.json"))
    source.press("Enter")
    page.locator("#data-load").click()
    page.locator("#data-status").get_by_text("Loaded 1000 rows").wait_for(timeout=20_000)
    page.locator("#data-stats svg").wait_for(timeout=30_000)
    cell = page.locator("#data-table [role=gridcell]").filter(has_text="比较以下两位著名人物")
    cell.filter(visible=True).first.click()
    page.locator("#data-preview").get_by_text("第 3 行", exact=False).or_(
        page.locator("#data-preview").get_by_text("Row 3", exact=False)).wait_for(timeout=20_000)
    editor_text = page.locator("#data-editor").inner_text()
    assert '"messages"' in editor_text
    shot = screenshot(page, "data_tab_en")
    assert shot.stat().st_size > 10_000

    page.get_by_text("中文", exact=True).click()
    page.locator("#data-status").get_by_text("已从").wait_for(timeout=10_000)
    page.get_by_role("tab", name="1 · 数据").wait_for()
    page.locator("#data-preview").get_by_text("参与训练").first.wait_for(timeout=10_000)
    page.get_by_role("button", name="格式与列映射").click()
    page.get_by_label("指令列").wait_for(timeout=10_000)
    screenshot(page, "data_tab_zh")
