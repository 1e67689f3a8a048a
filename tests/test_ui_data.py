"""The Data tab driven through its API with gradio_client, on a studio launched in-process.

One server serves the whole module (building the app is the slow part). Every shared dataset is
loaded through the page's own endpoint; one is edited, undone and saved; bad input of each kind
must come back as a message in the page while the server keeps answering.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.ui_server import launch_studio

# The files in ../shared/datasets (see tests/conftest.py), with their format and row count.
SHARED = {"alpaca_en_demo": ("alpaca", 999), "alpaca_zh_demo": ("alpaca", 1000),
          "huanhuan": ("alpaca", 3729), "identity": ("alpaca", 91),
          "dpo_en_demo": ("preference", 300), "kto_en_demo": ("messages", 300),
          "glaive_toolcall_en_demo": ("sharegpt", 300)}


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir, shared_roots):
    from gradio_client import Client

    from studio.engine.workspace import Workspace

    root = tmp_path_factory.mktemp("data-ws")
    workspace = Workspace(root, [*shared_roots, tiny_model_dir.parent])
    demo, url = launch_studio(workspace)
    yield Client(url, verbose=False), workspace, demo
    demo.close()


def call(client, endpoint: str, *args, lang: str = "en") -> dict:
    """Call a Data-tab endpoint; results by output name (see data_tab.OUTPUTS)."""
    from studio.ui.data.tab import OUTPUTS

    result = client.predict(*args, lang, api_name=f"/{endpoint}")
    return dict(zip(OUTPUTS, result, strict=True))


@pytest.mark.parametrize("name", sorted(SHARED))
def test_loads_every_shared_dataset(studio, shared_datasets, name):
    client, _, _ = studio
    fmt, rows = SHARED[name]
    out = call(client, "data_load", str(shared_datasets / f"{name}.json"), "auto", "document")
    assert "data-msg-ok" in out["status"], out["status"]
    assert f"Loaded {rows} rows" in out["status"] and f"Detected format: {fmt}" in out["status"]
    assert out["fmt"] == fmt
    assert len(out["table"]["data"]) == 20 and out["table"]["data"][0][0] == 1
    assert f"of {rows}" in out["page_info"]
    assert json.loads(out["editor"])  # row 1 opened in the editor


def test_mapping_can_be_corrected(studio, shared_datasets):
    client, _, _ = studio
    call(client, "data_load", str(shared_datasets / "identity.json"), "auto", "document")
    # Swap question and answer: the table must show the old answer as the user's turn.
    out = call(client, "data_apply_mapping", "alpaca", "output", "", "instruction", "", "",)
    assert "data-msg-ok" in out["status"]
    first = out["table"]["data"][0]
    assert first[2].startswith("Hello! I am {{name}}") and first[3] == "hi"


def test_edit_delete_undo_add_and_save(studio, shared_datasets):
    client, workspace, _ = studio
    source = shared_datasets / "alpaca_zh_demo.json"
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    call(client, "data_load", str(source), "auto", "document")
    opened = call(client, "data_open_row", 2)
    record = json.loads(opened["editor"])
    record["messages"][-1]["content"] = "改过的回答"
    out = call(client, "data_edit", 2, json.dumps(record, ensure_ascii=False), "")
    assert "data-msg-ok" in out["edit_msg"] and out["table"]["data"][1][3] == "改过的回答"
    out = call(client, "data_delete", 3, "")
    assert "of 999" in out["page_info"]
    out = call(client, "data_undo", "")
    assert "of 1000" in out["page_info"]
    out = call(client, "data_add", json.dumps({"instruction": "新问题", "output": "新回答"},
                                              ensure_ascii=False), "")
    assert "of 1001" in out["page_info"] and out["row_no"] == 1001
    found = call(client, "data_page", "改过的回答", 1)
    assert "1 matching rows" in found["page_info"]
    saved = call(client, "data_save", "我的数据")
    assert "data-msg-ok" in saved["save_msg"], saved["save_msg"]
    path = workspace.root / saved["saved_path"]
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 1001 and lines[1]["messages"][-1]["content"] == "改过的回答"
    assert lines[-1]["messages"] == [{"role": "user", "content": "新问题"},
                                     {"role": "assistant", "content": "新回答"}]
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    again = call(client, "data_save", "我的数据")
    assert "data-msg-error" in again["save_msg"] and "already exists" in again["save_msg"]

    from studio.engine.data.store import list_datasets

    assert saved["saved_path"] in list_datasets(workspace)


def test_preview_and_lengths_with_a_chosen_tokenizer(studio, tiny_model_dir, shared_datasets):
    client, _, _ = studio
    call(client, "data_load", str(shared_datasets / "huanhuan.json"), "auto", "document")
    out = call(client, "data_preview", str(tiny_model_dir), 1, True)
    assert "dcfce7" in out["preview"] and "本宫" in out["preview"]  # trained colour, whole CJK
    assert "\ufffd" not in out["preview"]
    out = call(client, "data_lengths", str(tiny_model_dir), 64)
    assert "<svg" in out["stats"] and "max length 64" in out["stats"]
    assert any("longer than the max length 64" in r[2] for r in out["problems"]["data"])


@pytest.mark.parametrize("source", ["/etc/passwd", "no/such-file.json", "missing.json", ""])
def test_bad_sources_are_messages(studio, source):
    client, _, _ = studio
    out = call(client, "data_load", source, "auto", "document")
    assert "data-msg-error" in out["status"] and "Traceback" not in out["status"]


def test_bad_upload_edit_and_model_are_messages(studio, tmp_path, shared_datasets):
    from gradio_client import handle_file

    client, _, _ = studio
    bad = tmp_path / "broken.json"
    bad.write_text("[{\"instruction\": 1,", encoding="utf-8")
    out = client.predict(handle_file(str(bad)), "document", "en", api_name="/data_upload")
    assert "invalid JSON" in out[0]
    call(client, "data_load", str(shared_datasets / "identity.json"), "auto", "document")
    out = call(client, "data_edit", 1, "{not json", "")
    assert "data-msg-error" in out["edit_msg"]
    out = call(client, "data_edit", 1, json.dumps({"text": "plain"}), "")
    assert "data-msg-error" in out["edit_msg"]  # a text row in a chat dataset
    out = call(client, "data_edit", 5000, "{}", "")
    assert "does not exist" in out["edit_msg"]
    out = call(client, "data_preview", "/etc", 1, True)
    assert "data-msg-error" in out["preview"]
    out = call(client, "data_load", str(shared_datasets / "identity.json"), "auto", "document",
               lang="zh")
    assert "已从" in out["status"] and "载入 91 行" in out["status"]
