"""The Scoring tab in headless Chromium: a small base-vs-other comparison ends in a chart.

The tiny model scores two subjects of the sample exam against a second tiny model that always
answers "C"; the test waits for the progress bar to say Done and the chart's SVG, reads both
models' names and numbers in the table and the history, and saves
``artifacts/screenshots/scoring_tab_en.png`` and ``scoring_tab_zh.png`` for a person to look at.
"""

from __future__ import annotations

import pytest

from tests.test_ui_scoring import SUBJECTS, pct, scored_alone
from tests.ui_server import launch_studio, open_browser, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture()
def studio_page(tmp_path, tiny_model_dir, always_c_model_dir):
    from studio.engine.workspace import Workspace

    demo, url = launch_studio(Workspace(tmp_path, [tiny_model_dir.parent,
                                                   always_c_model_dir.parent]))
    try:
        with open_browser(width=1440, height=900) as page:
            page.set_default_timeout(60_000)
            page.goto(url, wait_until="load", timeout=120_000)  # live timers: no idle
            yield page
    finally:
        demo.close()


def test_scoring_comparison_in_chromium(studio_page, tiny_model_dir, always_c_model_dir):
    from playwright.sync_api import expect

    page = studio_page
    page.get_by_role("tab", name="5 · Scoring").click()
    page.locator("#scoring-subjects-stem").get_by_text("general_science").wait_for()
    for field, value in (("#scoring-model textarea, #scoring-model input", str(tiny_model_dir)),
                         ("#scoring-other textarea, #scoring-other input",
                          str(always_c_model_dir)),
                         ("#scoring-limit input", "3")):
        box = page.locator(field).first
        box.fill(value)
        box.press("Tab")
    page.locator("#scoring-shots input[type=number]").fill("1")
    page.locator("#scoring-shots input[type=number]").press("Tab")
    page.locator("#scoring-start").click()
    expect(page.locator("#scoring-progress")).to_contain_text("Done", timeout=90_000)
    page.locator("#scoring-chart svg, #scoring-chart canvas").first.wait_for(timeout=30_000)
    # What a person reads in the table: both models by name and the overall row's numbers, each
    # equal to that model scored on its own.
    left = scored_alone(tiny_model_dir, SUBJECTS, 3)["overall"]["acc"]
    right = scored_alone(always_c_model_dir, SUBJECTS, 3)["overall"]["acc"]
    assert left != right
    table = page.locator("#scoring-table")
    expect(table).to_contain_text("overall", timeout=10_000)
    for text in (tiny_model_dir.name, always_c_model_dir.name, "Δ", pct(left), pct(right),
                 f"{100 * (right - left):+.1f}"):
        expect(table).to_contain_text(text)
    shot = screenshot(page, "scoring_tab_en")
    history = page.locator("#scoring-history")
    for label in (tiny_model_dir.name, always_c_model_dir.name):  # both sides saved and listed
        expect(history).to_contain_text(label)
    assert shot.stat().st_size > 10_000

    page.get_by_text("中文", exact=True).click()
    expect(page.locator("#scoring-start")).to_contain_text("开始评测", timeout=10_000)
    expect(page.get_by_role("tab", name="5 · 评测")).to_be_visible()
    screenshot(page, "scoring_tab_zh")
