"""LLaMA-Factory ``dataset_info.json`` folders in the pickers: entries listed by name, sources
that keep the name, training records from an entry, LLaMA-Factory's own demo entries loading
exactly what their files load (copied from ``../shared/datasets`` when present), and the Data tab
loading an entry through its own endpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from studio.engine.data import dataset_info as di
from studio.engine.data import store
from studio.engine.data.formats import load_records
from studio.engine.data.read import read_rows
from studio.engine.errors import DataError
from studio.engine.workspace import Workspace
from tests.llama_factory import assistant, entry, folder_with, user

# --------------------------------------------------------------------------- listing, picking


def test_listing_shows_names_and_reports_missing_files(tmp_path):
    info = folder_with(tmp_path, {"here": {"file_name": "here.json"},
                                  "gone": {"file_name": "gone.json"},
                                  "pictures": {"file_name": "here.json",
                                               "columns": {"images": "images"}}},
                       {"here.json": [{"instruction": "a", "output": "b"}]})
    names, problems = di.scan_entries(info)
    assert names == ["here", "pictures"]  # the refused one stays, so picking it says why
    assert [p.code for p in problems] == ["info_file_missing", "info_media"]
    assert "gone.json" in str(problems[0]) and "#gone" in str(problems[0])
    assert di.list_entries(info.parent) == names  # the folder names the same file
    with pytest.raises(DataError, match=r"is not in .*data"):
        read_rows(entry(info, "gone"))
    with pytest.raises(DataError, match=r"pick one of its entries \(here, pictures\)"):
        read_rows(info)
    with pytest.raises(DataError, match="has no entry 'nope'; its entries: here, gone"):
        read_rows(entry(info, "nope"))


def test_the_pickers_list_entries_and_sources_keep_the_name(tmp_path):
    workspace = Workspace(tmp_path)
    info = folder_with(tmp_path, {"identity": {"file_name": "identity.json"},
                                  "lost": {"file_name": "lost.json"}},
                       {"identity.json": [{"instruction": "hi", "output": "I am {{name}}"}]})
    listed = store.list_datasets(workspace)
    assert "data/dataset_info.json#identity" in listed
    assert not any("lost" in item or item.endswith(di.INFO_NAME) for item in listed)
    resolved = store.resolve_source(workspace, "data/dataset_info.json#identity")
    assert resolved == f"{info.resolve()}#identity"
    assert store.resolve_source(workspace, "data#identity") == f"{info.parent.resolve()}#identity"
    assert read_rows(resolved) == read_rows(store.resolve_source(workspace, "data#identity"))
    from studio.engine.train.config import TrainConfig
    from studio.ui.train.actions import dataset_path  # what the Train tab starts a run with

    assert dataset_path(workspace, TrainConfig(dataset="data/dataset_info.json#identity")) \
        == resolved
    with pytest.raises(ValueError, match="outside the workspace"):
        store.resolve_source(workspace, "/etc/dataset_info.json#x")


def test_load_training_records_on_an_entry(tmp_path):
    from studio.engine.train.config import TrainConfig
    from studio.engine.train.prepare import load_training_records

    info = folder_with(tmp_path, {"kto": {
        "file_name": "kto.json", "formatting": "sharegpt",
        "columns": {"messages": "conversations", "kto_tag": "label"}}},
        {"kto.json": [{"conversations": [{"from": "human", "value": "Who are you?"},
                                         {"from": "gpt", "value": "I am {{name}}."}],
                       "label": True},
                      {"conversations": [{"from": "human", "value": "Who are you?"},
                                         {"from": "gpt", "value": "Nobody."}],
                       "label": False}]})
    cfg = TrainConfig(dataset=entry(info, "kto"), name="Nova")
    kept, skipped = load_training_records(cfg, cfg.dataset)
    assert kept == [{"messages": [user("Who are you?"), assistant("I am Nova.")], "label": True}]
    assert len(skipped) == 1 and "undesirable" in skipped[0]


# --------------------------------------------------------------------------- LLaMA-Factory's own

# LLaMA-Factory's data/dataset_info.json entries for its demo files, as it ships them.
DEMO_ENTRIES = {
    "alpaca_en_demo": {"file_name": "alpaca_en_demo.json"},
    "glaive_toolcall_en_demo": {"file_name": "glaive_toolcall_en_demo.json",
                                "formatting": "sharegpt",
                                "columns": {"messages": "conversations", "tools": "tools"}},
    "dpo_en_demo": {"file_name": "dpo_en_demo.json", "ranking": True, "formatting": "sharegpt",
                    "columns": {"messages": "conversations", "chosen": "chosen",
                                "rejected": "rejected"}},
    "kto_en_demo": {"file_name": "kto_en_demo.json", "formatting": "sharegpt",
                    "columns": {"messages": "messages", "kto_tag": "label"},
                    "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                             "assistant_tag": "assistant"}},
    "mllm_demo": {"file_name": "mllm_demo.json", "formatting": "sharegpt",
                  "columns": {"messages": "messages", "images": "images"},
                  "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                           "assistant_tag": "assistant"}},
    "alpaca_en": {"hf_hub_url": "llamafactory/alpaca_en", "ms_hub_url": "llamafactory/alpaca_en"},
}


@pytest.fixture()
def demo_folder(tmp_path, shared_datasets) -> Path:
    """A copy of LLaMA-Factory's ``data/`` folder: its demo files and their entries."""
    folder = tmp_path / "data"
    folder.mkdir()
    for spec in DEMO_ENTRIES.values():
        if (shared_datasets / spec.get("file_name", "-")).is_file():
            shutil.copyfile(shared_datasets / spec["file_name"], folder / spec["file_name"])
    (folder / di.INFO_NAME).write_text(json.dumps(DEMO_ENTRIES, indent=2), encoding="utf-8")
    return folder


def test_llama_factory_demo_entries_load_like_their_files(demo_folder):
    names = di.list_entries(demo_folder / di.INFO_NAME)
    assert names == ["alpaca_en_demo", "glaive_toolcall_en_demo", "dpo_en_demo", "kto_en_demo",
                     "alpaca_en"]  # mllm_demo.json is not there (and would be refused)
    for name in names[:-1]:
        by_entry, _ = load_records(entry(demo_folder / di.INFO_NAME, name))
        direct, _ = load_records(demo_folder / DEMO_ENTRIES[name]["file_name"])
        assert by_entry == direct, name
    kto, _ = load_records(entry(demo_folder / di.INFO_NAME, "kto_en_demo"))
    assert {r["label"] for r in kto} == {True, False}


def test_the_data_tab_lists_and_loads_an_entry(tmp_path, shared_datasets):
    from gradio_client import Client

    from studio.ui.data.tab import OUTPUTS
    from tests.ui_server import launch_studio

    folder = tmp_path / "ws" / "data"
    folder.mkdir(parents=True)
    for name in ("dpo_en_demo", "kto_en_demo"):
        shutil.copyfile(shared_datasets / f"{name}.json", folder / f"{name}.json")
    (folder / di.INFO_NAME).write_text(json.dumps(DEMO_ENTRIES), encoding="utf-8")
    demo, url = launch_studio(Workspace(tmp_path / "ws"))
    try:
        pickers = [b for b in demo.blocks.values() if type(b).__name__ == "Dropdown"
                   and ("data/dataset_info.json#kto_en_demo",) * 2 in
                   [tuple(c) for c in (b.choices or [])]]
        assert len(pickers) >= 2  # the Data tab's source and the Train tab's dataset
        client = Client(url, verbose=False)

        def load(source, lang="en"):
            out = client.predict(source, "auto", "document", lang, api_name="/data_load")
            return dict(zip(OUTPUTS, out, strict=True))

        out = load("data/dataset_info.json#kto_en_demo")
        assert "data-msg-ok" in out["status"], out["status"]
        assert "Loaded 300 rows" in out["status"] and out["fmt"] == "sharegpt"
        out = load("data/dataset_info.json#dpo_en_demo")
        assert "Loaded 300 rows" in out["status"] and out["fmt"] == "preference"
        out = load("data/dataset_info.json#mllm_demo")
        assert "data-msg-error" in out["status"] and "text-only models" in out["status"]
        out = load("data/dataset_info.json#mllm_demo", lang="zh")
        assert "data-msg-error" in out["status"] and "只训练纯文本模型" in out["status"]
    finally:
        demo.close()
