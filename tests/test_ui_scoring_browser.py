"""The Scoring tab in headless Chromium: a small base-vs-other comparison ends in a chart.

The tiny model scores two subjects of the sample exam against itself; the test waits for the
progress bar to say Done, the chart's SVG and the table's overall row, and saves
``artifacts/screenshots/scoring_tab_en.png`` and ``scoring_tab_zh.png`` for a person to look at.
"""

from __future__ import annotations

import pytest

from tests.ui_server import launch_studio, open_browser, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture()
def studio_page(tmp_path, tiny_model_dir):
    from studio.engine.workspace import Workspace

    demo, url = launch_studio(Workspace(tmp_path, [tiny_model_dir.parent]))
    try:
        with open_browser(width=1440, height=900) as page:
            page.set_default_timeout(60_000)
            page.goto(url, wait_until="load", timeout=120_000)  # live timers: no idle
            yield page
    finally:
        demo.close()


def test_scoring_comparison_in_chromium(studio_page, tiny_model_dir):
    page = studio_page
    page.get_by_role("tab", name="5 · Scoring").click()
    page.locator("#scoring-subjects-stem").get_by_text("general_science").wait_for()
    for field, value in (("#scoring-model textarea, #scoring-model input", str(tiny_model_dir)),
                         ("#scoring-other textarea, #scoring-other input", str(tiny_model_dir)),
                         ("#scoring-limit input", "3")):
        box = page.locator(field).first
        box.fill(value)
        box.press("Tab")
    page.locator("#scoring-shots input[type=number]").fill("1")
    page.locator("#scoring-shots input[type=number]").press("Tab")
    page.locator("#scoring-start").click()
    page.locator("#scoring-progress").get_by_text("Done").wait_for(timeout=90_000)
    page.locator("#scoring-chart svg, #scoring-chart canvas").first.wait_for(timeout=30_000)
    page.locator("#scoring-table").get_by_text("overall").first.wait_for(timeout=10_000)
    assert "Δ" in page.locator("#scoring-table").inner_text()
    shot = screenshot(page, "scoring_tab_en")
    history = page.locator("#scoring-history").inner_text()
    assert history.count("mmlu") >= 2, history  # both sides saved and listed
    assert shot.stat().st_size > 10_000

    page.get_by_text("中文", exact=True).click()
    page.locator("#scoring-start").get_by_text("开始评测").wait_for(timeout=10_000)
    screenshot(page, "scoring_tab_zh")
