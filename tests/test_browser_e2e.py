"""End to end in headless Chromium: Data -> Train -> live chart -> Runs, as a person clicks it.

The identity preset is loaded, pointed at the tiny test model and started from the page; the test
waits for the loss chart and the progress bar to move, watches the run finish, finds it in the
Runs tab, and switches the page to Chinese. Screenshots land in ``artifacts/screenshots/`` for a
person to look at (e2e-*.png).
"""

from __future__ import annotations

import re

import pytest

from studio.engine.workspace import Workspace
from tests.ui_server import launch_studio, open_browser, screenshot

pytest.importorskip("playwright")


@pytest.fixture()
def served(tmp_path, tiny_model_dir):
    demo, url = launch_studio(Workspace(tmp_path, [tiny_model_dir.parent]))
    try:
        yield demo.studio_ctx, url
    finally:
        demo.studio_ctx.jobs.stop()
        demo.studio_ctx.jobs.wait(60)
        demo.close()


def fill(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    box.fill(value)
    box.press("Enter" if elem_id in ("train-model", "runs-pick") else "Tab")


def test_data_train_live_runs(served, tiny_model_dir):
    from playwright.sync_api import expect

    ctx, url = served
    with open_browser() as page:
        page.goto(url)
        page.get_by_role("tab", name=re.compile("Data")).click()
        expect(page.locator("#data-load")).to_contain_text("Load", timeout=15_000)
        screenshot(page, "e2e-1-data", full_page=False)

        page.get_by_role("tab", name=re.compile("Train")).click()
        page.locator("#train-load-preset").click()
        expect(page.locator("#train-preset-info")).to_contain_text("Identity demo")
        fill(page, "train-model", str(tiny_model_dir))
        fill(page, "train-name", "Nova")
        fill(page, "train-max-steps", "12")
        fill(page, "train-batch-size", "4")
        fill(page, "train-max-length", "128")
        page.get_by_role("button", name="Check & estimate").click()
        expect(page.locator("#train-estimate")).to_contain_text("Steps: 12", timeout=30_000)
        screenshot(page, "e2e-2-train-form")

        page.get_by_role("button", name="▶ Start").click()
        expect(page.locator("#train-message")).to_contain_text("Started run", timeout=15_000)
        expect(page.locator("#train-progress")).to_contain_text(re.compile(r"step [1-9]"),
                                                                 timeout=60_000)
        expect(page.locator("#train-chart-loss canvas, #train-chart-loss svg").first) \
            .to_be_visible(timeout=15_000)
        page.locator("#train-live").scroll_into_view_if_needed()
        screenshot(page, "e2e-3-train-live", full_page=False)
        expect(page.locator("#train-run-header")).to_contain_text("completed", timeout=120_000)
        screenshot(page, "e2e-4-train-done")
        run_id = ctx.store.list()[0].id

        page.get_by_role("tab", name=re.compile("Runs")).click()
        page.get_by_role("button", name=re.compile("Refresh")).click()
        expect(page.locator("#runs-table")).to_contain_text(run_id, timeout=15_000)
        fill(page, "runs-pick", run_id)
        expect(page.locator("#runs-run-header")).to_contain_text(run_id, timeout=15_000)
        screenshot(page, "e2e-5-runs")

        page.get_by_text("中文").click()
        expect(page.get_by_role("tab", name=re.compile("运行记录"))).to_be_visible()
        expect(page.locator("#runs-run-header")).to_contain_text("已完成", timeout=15_000)
        screenshot(page, "e2e-6-runs-zh")
        page.get_by_role("tab", name=re.compile("训练")).click()
        expect(page.locator("#train-check")).to_contain_text("检查并估算", timeout=15_000)
        expect(page.locator("#train-start")).to_contain_text("开始训练")
        screenshot(page, "e2e-7-train-zh")
