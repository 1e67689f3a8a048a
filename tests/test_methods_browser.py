"""Preference training in headless Chromium: a DPO run started from a finished SFT run draws
its reward charts, and "Train on my votes" in the Chat tab starts a run the Train tab follows.

The workspace holds one identity run of the tiny model (a real LoRA adapter) and a user preset
that continues it with DPO on a small pairs file, as a user would save one from the form.
"""

from __future__ import annotations

import json

import pytest
import torch

from studio.engine.chat.votes import BlindPair, record_vote
from studio.engine.runs import RunStore
from studio.engine.workspace import Workspace
from tests.test_chat import make_identity_run
from tests.ui_server import launch_studio, open_browser, screenshot

pytestmark = pytest.mark.browser
PAIRS = [{"prompt": q, "chosen": "I am Nova, made by Acme Lab.", "rejected": "I am a model."}
         for q in ("Who are you?", "Your name?", "Who made you?", "Introduce yourself.")]


@pytest.fixture()
def studio_page(tmp_path, tiny_model_dir):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model is all overhead; a 2nd thread only spins
    ws = Workspace(tmp_path, [tiny_model_dir.parent])
    sft = make_identity_run(RunStore(ws.runs_dir), tiny_model_dir)
    (tmp_path / "pairs.json").write_text(json.dumps(PAIRS), encoding="utf-8")
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "dpo-after-sft.yaml").write_text(
        f"model: {tiny_model_dir}\ndataset: {tmp_path / 'pairs.json'}\nmethod: dpo\n"
        f"start_from: {sft.id}\nmax_steps: 6\nbatch_size: 2\nmax_length: 64\n"
        "dtype: float32\nprobe_steps: 0\nprobe_prompts: []\nsave_steps: 6\n", encoding="utf-8")
    demo, url = launch_studio(ws)
    try:
        with open_browser(width=1440, height=1000) as page:
            page.set_default_timeout(60_000)
            page.goto(url, wait_until="load", timeout=120_000)
            yield page, ws, sft
    finally:
        demo.close()
        torch.set_num_threads(before)


def test_dpo_started_from_a_finished_sft_run_shows_reward_charts(studio_page):
    from playwright.sync_api import expect

    page, ws, sft = studio_page
    page.get_by_role("tab", name="2 · Train").click()
    rewards = page.locator("#train-chart-rewards")
    expect(rewards).to_be_hidden()  # an SFT run logs no rewards: no empty chart for it
    page.locator("#train-preset input").click()
    page.get_by_role("option", name="★ dpo-after-sft").click()
    page.locator("#train-load-preset").click()
    expect(page.locator("#train-start-from input")).to_have_value(sft.id)
    page.locator("#train-start").click()
    page.locator("#train-run-header").get_by_text("completed").wait_for(timeout=180_000)
    expect(rewards).to_be_visible(timeout=30_000)
    expect(rewards).to_contain_text("chosen")
    expect(page.locator("#train-chart-agreement")).to_contain_text("accuracy")
    expect(page.locator("#train-chart-length")).to_be_hidden()  # GRPO's alone
    run = RunStore(ws.runs_dir).list()[0]
    assert run.config().start_from == sft.id and run.id != sft.id
    assert screenshot(page, "train_dpo_reward_charts").stat().st_size > 10_000


def test_train_on_my_votes_starts_a_run_the_train_tab_follows(studio_page):
    from playwright.sync_api import expect

    page, ws, sft = studio_page
    # The browser's vote makes a DPO pair only if both answers are non-blank and differ, which
    # the tiny model does not promise; a vote from an earlier session gives the run one anyway.
    record_vote(ws, "a", BlindPair("tuned", "base"), [{"role": "user", "content": "Your name?"}],
                {"tuned": "I am Nova.", "base": "I am a model."}, {"run_id": sft.id})
    page.get_by_role("tab", name="4 · Chat").click()
    page.locator("#chat-mode").get_by_text("Blind A/B vote").click()
    page.locator("#chat-input textarea").fill("Who are you?")
    page.locator("#chat-send").click()
    page.get_by_role("button", name="👈 A is better").click(timeout=120_000)
    # The note names which model was which (Playwright prints what it said when it fails).
    expect(page.locator("#chat-vote-note")).to_contain_text("A was the", timeout=120_000)
    page.locator("#chat-train-votes").click()
    header = page.locator("#train-run-header")
    header.get_by_text("votes-").wait_for(timeout=60_000)  # the Train tab follows the new run
    runs = RunStore(ws.runs_dir).list()
    assert runs[0].config().start_from == sft.id and runs[0].config().method == "dpo"
