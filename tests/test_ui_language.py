"""The page's endpoints answer in the language they are given (gradio_client): table headers,
row-editing messages, status lines, snippets and errors of the Data, Scoring, Chat and Deploy tabs
come back in Chinese for ``lang="zh"``, and in English for ``"en"``.

``test_ui_language_browser`` checks the same in Chromium, with the header's switch re-rendering
what was already shown; this is the cheap check of the handlers themselves.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.ui_server import launch_studio

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_model_dir):
    from gradio_client import Client

    from studio.engine.workspace import Workspace

    workspace = Workspace(tmp_path_factory.mktemp("lang-ws"), [tiny_model_dir.parent])
    demo, url = launch_studio(workspace)
    yield Client(url, verbose=False)
    demo.close()


def data(client, endpoint: str, *args, lang: str) -> dict:
    from studio.ui.data.tab import OUTPUTS

    return dict(zip(OUTPUTS, client.predict(*args, lang, api_name=f"/{endpoint}"), strict=True))


def value(out):
    return out["value"] if isinstance(out, dict) and "value" in out else out


def test_data_tab_answers_in_chinese(client):
    source = str(ROOT / "assets" / "identity.json")
    out = data(client, "data_load", source, "auto", "document", lang="zh")
    assert "已从" in out["status"] and "载入 63 行" in out["status"]
    assert out["table"]["headers"] == ["行号", "系统提示", "用户", "助手", "轮数"]
    assert out["problems"]["headers"] == ["行号", "字段", "问题"]
    assert out["page_info"].startswith("第 1 / 4 页")
    out = data(client, "data_open_row", 8, lang="zh")
    assert out["row_no"] == 8
    out = data(client, "data_edit", 8, "{not json", "", lang="zh")
    assert "操作失败" in out["edit_msg"]
    out = data(client, "data_delete", 8, "", lang="zh")
    assert "已删除第 8 行" in out["edit_msg"] and "可撤销的修改：1 个" in out["edit_msg"]
    out = data(client, "data_undo", "", lang="zh")
    assert "已撤销（第 8 行）" in out["edit_msg"]
    out = data(client, "data_undo", "", lang="zh")
    assert "没有可撤销的修改" in out["edit_msg"]
    out = data(client, "data_undo", "", lang="en")
    assert "Nothing to undo" in out["edit_msg"] and not CJK.search(out["edit_msg"])


def test_scoring_tab_answers_in_chinese(client):
    _, _, _, history, *_ = client.predict("", None, "zh", api_name="/scoring_poll")
    assert history["headers"] == ["时间", "评测基准", "数据划分", "示例数", "提示格式", "模型",
                                  "题数", "准确率 %"]
    message, job, *_ = client.predict("mmlu", "assets/sample-exam/en", 0, "plain", 2, "auto",
                                      "model", None, "", "zh", [], [], [], [],
                                      api_name="/scoring_start")
    assert job == "" and message == "请至少选择一个科目。"
    *_, message = client.predict("mmlu", "no/such/folder", "all", "zh",
                                 api_name="/scoring_subjects")
    assert message.startswith("⚠️") and CJK.search(message), message


def test_scoring_views_translate_names_and_headers():
    """The results table and chart name categories and the overall row in the page language."""
    from studio.ui.i18n import Translator
    from studio.ui.scoring import view

    tr = Translator()
    ctx = SimpleNamespace(tr=tr, t=tr.t)  # what the views use of a StudioContext
    side = {"subjects": {"general_science": {"n": 2, "acc": 0.5}},
            "categories": {"STEM": {"n": 2, "acc": 0.5}}, "overall": {"n": 2, "acc": 0.5}}
    zh = view.result_table(ctx, "zh", {"tiny": side})
    assert list(zh.columns) == ["层级", "名称", "题数", "tiny"]
    assert zh.values.tolist()[1:] == [["类别", "理工（STEM）", 2, "50.0"],
                                      ["总体", "总体", 2, "50.0"]]
    en = view.result_table(ctx, "en", {"tiny": side})
    assert en.values.tolist()[1:] == [["category", "STEM", 2, "50.0"],
                                      ["overall", "overall", 2, "50.0"]]
    assert list(view.chart_frame(ctx, "zh", {"tiny": side})["bar"]) == ["理工（STEM） · tiny",
                                                                        "总体 · tiny"]


def test_deploy_tab_answers_in_chinese(client):
    status, curl, python = client.predict("", "zh", api_name="/deploy_serve_stop")
    assert "未在提供服务" in status
    assert "请介绍一下你自己" in curl and "请介绍一下你自己" in python
    message, files = client.predict("no/such/model", "adapter", "q8_0", "zh",
                                    api_name="/deploy_export")
    assert message.startswith("⚠️") and CJK.search(message) and files is None
    status, curl, _ = client.predict("", "en", api_name="/deploy_serve_stop")
    assert "Not serving" in status and "Tell me who you are" in curl


def test_chat_tab_answers_in_chinese(client):
    *_, notice = client.predict("", "", "side", "zh", api_name="/chat_pick")
    assert "请选择一个已完成的运行" in value(notice)
    *_, notice = client.predict("", "no/such/adapter", "side", "zh", api_name="/chat_pick")
    assert value(notice).startswith("⚠️") and CJK.search(value(notice))


def test_gguf_precisions_are_described_in_both_languages():
    """The Deploy tab's precision picker: English as the engine words it, and Chinese."""
    from studio.engine.export.gguf import GGUF_QUANTS
    from studio.ui.deploy.tab import quant_choices
    from studio.ui.i18n import Translator

    tr = Translator()
    ctx = SimpleNamespace(tr=tr, t=tr.t)
    assert quant_choices(ctx, "en") == [(f"{k} · {v}", k) for k, v in GGUF_QUANTS.items()]
    assert all(CJK.search(label) for label, _ in quant_choices(ctx, "zh"))
