"""The language switch in headless Chromium: after 中文, the Data, Scoring, Chat and Deploy tabs
read Chinese, tables and messages included, and English comes back after English.

The workspace holds one tiny identity run (two training steps: the answers do not matter), so
the Chat and Deploy tabs have a run to show. With the header on 中文 the test loads
``assets/identity.json``, opens a row by clicking it, edits it and undoes the edit; scores the
tiny model on two subjects of the sample exam; asks one chat question; and exports the run's
adapter. Each tab's visible text must then hold its Chinese headers and messages and none of the
English phrases those used to stay in; switching back to English must bring each back in
English, messages written in Chinese included. Screenshots: ``artifacts/screenshots/
language_<tab>_zh.png``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from studio.engine.runs import RunStore
from studio.engine.workspace import Workspace
from tests.test_chat import make_identity_run
from tests.ui_server import launch_studio, open_browser, screenshot

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
# What each tab showed in English after the switch to 中文, before issue 14.
ENGLISH = {
    "data": ["Loaded", "Detected format", "updated", "Changes you can", "Undone", "Number",
             "Page 1 of", "No problems", "Turns", "Assistant"],
    "scoring": ["Level", "Questions", "overall", "Social Sciences", "benchmark", "acc %",
                "split", "shots", "Scoring 4", "Done"],
    "chat": ["Base ·", "Tuned ·", "Ask a question below", "First token", "tokens/s",
             "Textbox", "completed"],
    "deploy": ["Not serving", "Exported to", "Tell me who you are", "base model",
               "practically lossless"],
}


@pytest.fixture()
def page(tmp_path, tiny_model_dir):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model is all overhead; a 2nd thread only spins
    workspace = Workspace(tmp_path, [tiny_model_dir.parent])
    make_identity_run(RunStore(workspace.runs_dir), tiny_model_dir, steps=2)
    demo, url = launch_studio(workspace)
    try:
        with open_browser(width=1440, height=900) as page:
            page.set_default_timeout(30_000)
            page.goto(url, wait_until="load", timeout=120_000)  # live timers: no idle
            page.locator("#data-load").wait_for()
            yield page
    finally:
        demo.close()
        torch.set_num_threads(before)


def panel(page):
    """The open tab (the header and Gradio's own footer left out)."""
    return page.locator("[role=tabpanel]:visible").first


def assert_chinese(page, tab: str, *expected: str) -> None:
    from playwright.sync_api import expect

    for text in expected:
        expect(panel(page)).to_contain_text(text)
    for text in ENGLISH[tab]:
        expect(panel(page)).not_to_contain_text(text)
    screenshot(page, f"language_{tab}_zh")


def assert_english(page, *parts: str) -> None:
    """No Chinese left in ``parts`` of the open tab (all of it by default); the switch
    re-renders every tab at once, which takes seconds on two busy cores."""
    from playwright.sync_api import expect

    for part in parts or (None,):
        where = panel(page) if part is None else page.locator(part)
        expect(where).not_to_contain_text(CJK, timeout=30_000)


def headers(page, table: str) -> list[str]:
    return [h.strip() for h in page.locator(f"{table} thead th").all_inner_texts() if h.strip()]


def test_every_tab_follows_the_language_switch(page, tiny_model_dir):
    from playwright.sync_api import expect

    page.get_by_text("中文", exact=True).click()
    expect(page.get_by_role("tab", name="1 · 数据")).to_be_visible(timeout=30_000)
    # The Data tab's own re-render (its status line) is done before anything is loaded.
    expect(page.locator("#data-status")).to_contain_text("尚未载入数据集", timeout=30_000)
    expect(page.locator("#studio-device")).to_contain_text("个线程")

    # Data: load, open a row by clicking it, edit it, undo the edit.
    for label, value in (("使用哪个模型的分词器", tiny_model_dir),
                         ("数据集", ROOT / "assets" / "identity.json")):
        box = page.get_by_label(label, exact=True)
        box.fill(str(value))
        box.press("Enter")
    page.locator("#data-load").click()
    expect(page.locator("#data-status")).to_contain_text("载入 63 行")
    page.locator("#data-table [role=gridcell]").filter(has_text="Who made you?").first.click()
    expect(page.locator("#data-row-no input")).to_have_value("8")
    page.locator("#data-editor .cm-content").click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(json.dumps({"messages": [
        {"role": "user", "content": "你是谁？"},
        {"role": "assistant", "content": "我是 {{name}}。"}]}, ensure_ascii=False))
    page.get_by_role("button", name="保存此行").click()
    expect(page.locator("#data-table")).to_contain_text("你是谁？")
    expect(page.locator("#data-edit-msg")).to_contain_text("第 8 行已更新")
    page.get_by_role("button", name="↶ 撤销").click()
    expect(page.locator("#data-table")).not_to_contain_text("你是谁？")
    assert headers(page, "#data-table") == ["行号", "系统提示", "用户", "助手", "轮数"]
    assert headers(page, "#data-problems") == ["行号", "字段", "问题"]
    assert_chinese(page, "data", "已撤销（第 8 行）", "第 1 / 4 页", "未发现问题")

    # Scoring: the tiny model on two subjects, two questions each.
    page.get_by_role("tab", name="5 · 评测").click()
    page.locator("#scoring-subjects-stem").get_by_text("general_science").wait_for()
    for field, value in (("#scoring-model textarea, #scoring-model input", str(tiny_model_dir)),
                         ("#scoring-limit input", "2"),
                         ("#scoring-shots input[type=number]", "0")):
        box = page.locator(field).first
        box.fill(value)
        box.press("Tab")
    page.locator("#scoring-start").click()
    expect(page.locator("#scoring-progress")).to_contain_text("已完成", timeout=60_000)
    expect(page.locator("#scoring-history")).to_contain_text("mmlu")
    page.locator("#scoring-chart svg, #scoring-chart canvas").first.wait_for()
    assert headers(page, "#scoring-table")[:3] == ["层级", "名称", "题数"]
    assert headers(page, "#scoring-history") == ["时间", "评测基准", "数据划分", "示例数",
                                                 "提示格式", "模型", "题数", "准确率 %"]
    assert_chinese(page, "scoring", "正在评测 4 道题", "总体", "理工（STEM）", "社会科学 ·")

    # Chat: one question to the run (the tuned side) and its base model.
    page.get_by_role("tab", name="4 · 对话").click()
    expect(page.locator("#chat-run input")).to_have_value(re.compile(r" · 已完成$"))
    expect(page.locator("#chat-left")).to_contain_text("在下方提问")
    page.locator("#chat-input textarea").fill("你是谁？")
    page.locator("#chat-send").click()
    expect(page.locator("#chat-stats")).to_contain_text("首个 token", timeout=60_000)
    assert_chinese(page, "chat", "基础模型 ·", "微调后 ·", "每秒")

    # Deploy: the picker names the base model in Chinese; export the adapter.
    page.get_by_role("tab", name="6 · 部署").click()
    expect(page.locator("#deploy-status")).to_contain_text("未在提供服务")
    page.locator("#deploy-model input").click()
    expect(page.get_by_role("option", name=re.compile("（基座模型）"))).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#deploy-quant input")).to_have_value(re.compile("q8_0 · 8 位：几乎无损"))
    page.locator("#deploy-kind").get_by_text("adapter", exact=True).click()
    page.locator("#deploy-export").click()
    expect(page.locator("#deploy-export-message")).to_contain_text("已导出到", timeout=60_000)
    assert_chinese(page, "deploy", "请介绍一下你自己", "未在提供服务")

    # Train: the shipped preset's description.
    page.get_by_role("tab", name="2 · 训练").click()
    expect(page.locator("#train-preset-info")).to_contain_text("身份演示（LoRA）")
    expect(page.locator("#train-preset-info")).not_to_contain_text("Identity demo")
    page.get_by_role("tab", name="6 · 部署").click()

    # Back to English: what was written in Chinese comes back in English.
    page.get_by_text("English", exact=True).click()
    expect(page.locator("#deploy-export-message")).to_contain_text("Exported to", timeout=30_000)
    expect(page.locator("#deploy-status")).to_contain_text("Not serving")
    expect(page.locator("#deploy-curl")).to_contain_text("Tell me who you are")
    assert_english(page)
    page.get_by_role("tab", name="4 · Chat").click()
    expect(page.locator("#chat-stats")).to_contain_text("First token")
    assert_english(page, "#chat-stats", "#chat-run")
    expect(page.locator("#chat-left")).to_contain_text("Base ·")
    expect(page.locator("#chat-left")).to_contain_text("你是谁？")  # the conversation stays
    expect(page.locator("#chat-run input")).to_have_value(re.compile(r" · completed$"))
    page.get_by_role("tab", name="5 · Scoring").click()
    expect(page.locator("#scoring-table")).to_contain_text("overall")
    expect(page.locator("#scoring-message")).to_contain_text("Scoring 4 questions")
    assert_english(page, "#scoring-table", "#scoring-history", "#scoring-progress",
                   "#scoring-chart")
    expect(page.locator("#studio-device")).to_contain_text("threads")
    page.get_by_role("tab", name="2 · Train").click()
    expect(page.locator("#train-preset-info")).to_contain_text("Identity demo (LoRA)")
    page.get_by_role("tab", name="1 · Data").click()
    expect(page.locator("#data-status")).to_contain_text("Loaded 63 rows")
    expect(page.locator("#data-edit-msg")).to_contain_text("Undone (row 8)")
    assert_english(page)
    assert headers(page, "#data-table") == ["#", "System", "User", "Assistant", "Turns"]
