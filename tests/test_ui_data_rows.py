"""The Data tab's engine helpers without a server: rows, undo, column mapping, listing, saving."""

from __future__ import annotations

import json

import pytest

from studio.engine.data import edit as ed
from studio.engine.data import store
from studio.engine.data.read import read_rows
from studio.engine.errors import DataError


def _chat(q: str, a: str) -> dict:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def test_search_paging_and_flat_rows():
    records = [_chat(f"question {i}", f"answer {i}") for i in range(45)]
    assert len(ed.search(records, "")) == 45 and ed.search(records, "ANSWER 7") == [7]
    shown, page, pages = ed.page_of(list(range(45)), 99)
    assert (page, pages, shown) == (3, 3, list(range(40, 45)))
    assert ed.page_for_row(list(range(45)), 21) == 2
    assert ed.flat_row(1, records[0]) == [1, "", "question 0", "answer 0", "2"]
    assert ed.flat_row(2, {**records[0], "label": False})[-1] == "2 ✗"
    assert len(ed.flat_row(3, {"text": "x" * 500})[1]) == ed.CELL_CHARS


def test_edits_undo_in_reverse_order():
    records = [_chat("a", "1"), _chat("b", "2")]
    original = json.dumps(records)
    undo: list = []
    ed.set_row(records, undo, 0, _chat("a", "changed"))
    ed.delete_row(records, undo, 1)
    ed.add_row(records, undo, _chat("c", "3"))
    assert [r["messages"][0]["content"] for r in records] == ["a", "c"]
    while ed.undo_last(records, undo) is not None:
        pass
    assert json.dumps(records) == original
    with pytest.raises(DataError, match="does not exist"):
        ed.delete_row(records, undo, 5)


def test_parse_record_accepts_any_format_of_the_same_kind():
    rec = ed.parse_record('{"instruction": "hi", "output": "hello"}', "chat")
    assert rec == _chat("hi", "hello")
    with pytest.raises(DataError, match="invalid JSON"):
        ed.parse_record("{oops", "chat")
    with pytest.raises(DataError, match="holds chat rows"):
        ed.parse_record('{"text": "plain"}', "chat")
    with pytest.raises(DataError, match="JSON object"):
        ed.parse_record("[1, 2]", "chat")


@pytest.mark.parametrize("name,fmt", [("dpo_en_demo", "preference"), ("kto_en_demo", "messages"),
                                      ("glaive_toolcall_en_demo", "sharegpt")])
def test_default_slots_match_the_plain_conversion(shared_datasets, name, fmt):
    from studio.engine.data.formats import normalize

    rows = read_rows(shared_datasets / f"{name}.json")[:20]
    converted = store.convert(rows, fmt, store.default_slots(fmt, rows), source=name)
    assert converted == normalize(rows, fmt)


def test_renamed_columns_are_used():
    rows = [{"dialog": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
             "messages": "ignored"}]
    out = store.convert(rows, "messages", {"messages": "dialog", "system": "", "tools": ""}, "t")
    assert out == [_chat("q", "a")]
    rows = [{"q": "question", "a": "answer", "sys": "be brief"}]
    out = store.convert(rows, "alpaca", {"instruction": "q", "output": "a", "system": "sys"}, "t")
    assert out[0]["messages"][0] == {"role": "system", "content": "be brief"}
    with pytest.raises(DataError, match="choose a column for output"):
        store.convert(rows, "alpaca", {"instruction": "q", "output": ""}, "t")


def test_list_upload_and_save_never_overwrite(workspace, tmp_path_factory):
    upload = tmp_path_factory.mktemp("browser") / "my data.jsonl"
    upload.write_text(json.dumps({"text": "hello"}) + "\n", encoding="utf-8")
    first = store.store_upload(workspace, str(upload))
    second = store.store_upload(workspace, str(upload))
    assert first == "datasets/uploads/my-data.jsonl" and second.endswith("my-data-2.jsonl")
    listed = store.list_datasets(workspace)
    assert first in listed and "assets/identity.json" in listed
    path = store.save_dataset(workspace, "甄嬛 v1", [{"text": "hi"}])
    assert path.name == "甄嬛-v1.jsonl" and path.parent == workspace.datasets_dir
    with pytest.raises(DataError, match="already exists"):
        store.save_dataset(workspace, "甄嬛 v1", [{"text": "other"}])
    # Slashes and dots are cleaned out of names, so a name can never leave datasets/.
    assert store.saved_path(workspace, "../../escape").parent == workspace.datasets_dir
    with pytest.raises(DataError, match="name"):
        store.saved_path(workspace, "../")


def test_shared_datasets_are_listed_with_the_workspace_ones(workspace, shared_datasets):
    listed = store.list_datasets(workspace)
    assert str((shared_datasets / "huanhuan.json").resolve()) in listed  # shared/ may be a link
    assert "assets/identity.json" in listed


def test_sources_resolve_inside_the_workspace_or_to_the_hub(workspace):
    assert store.resolve_source(workspace, "assets/identity.json").endswith("identity.json")
    assert store.resolve_source(workspace, "tatsu-lab/alpaca") == "tatsu-lab/alpaca"
    with pytest.raises(ValueError, match="outside the workspace"):
        store.resolve_source(workspace, "/etc/passwd")
    assert store.placeholders([{"text": "I am {{name}} by {{author}}"}]) == ["author", "name"]
