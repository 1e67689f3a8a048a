"""Reading, detecting and converting the formats users bring; clear errors; validation."""

import json

import pandas as pd
import pytest

from studio.engine.data import formats as D
from studio.engine.data import store
from studio.engine.data.read import read_rows
from studio.engine.data.validate import ROLES, validate
from studio.engine.errors import DataError
from studio.engine.workspace import Workspace

# The files in ../shared/datasets (see tests/conftest.py), with their format and row count.
SHARED = {
    "identity.json": ("alpaca", 91),
    "alpaca_en_demo.json": ("alpaca", 999),
    "alpaca_zh_demo.json": ("alpaca", 1000),
    "huanhuan.json": ("alpaca", 3729),
    "dpo_en_demo.json": ("preference", 300),
    "kto_en_demo.json": ("messages", 300),
    "glaive_toolcall_en_demo.json": ("sharegpt", 300),
}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_every_shared_dataset_loads_unchanged(shared_datasets, name):
    fmt, rows = SHARED[name]
    records, detected = D.load_records(shared_datasets / name)
    assert detected == fmt and len(records) == rows
    first = records[0]
    if fmt == "preference":
        assert first["prompt"][0]["role"] == "user"
        assert first["chosen"][0]["role"] == "assistant" and first["rejected"]
    else:
        roles = {m["role"] for r in records for m in r["messages"]}
        assert roles <= set(ROLES) and "assistant" in roles
    serious = [p for p in validate(records) if "unknown role" in p.message]
    assert serious == []


def test_glaive_tool_calls_become_structured_calls(shared_datasets):
    records, _ = D.load_records(shared_datasets / "glaive_toolcall_en_demo.json")
    first = records[0]
    assert first["tools"] and first["tools"][0]["name"]  # the schemas, parsed from JSON text
    (call,) = [m for m in first["messages"] if m.get("tool_calls")]
    assert call["role"] == "assistant" and call["content"] == ""
    assert call["tool_calls"] == [{"type": "function", "function": {
        "name": "search_recipes",
        "arguments": {"ingredients": ["chicken", "bell peppers", "rice"]}}}]
    roles = [m["role"] for m in first["messages"]]
    after = roles[first["messages"].index(call) + 1:]
    assert after[:2] == ["tool", "assistant"]  # the result, then the answer that uses it
    assert validate(records) == []  # every call and result is understood


def test_kto_keeps_its_label(shared_datasets):
    records, _ = D.load_records(shared_datasets / "kto_en_demo.json")
    assert {r["label"] for r in records} == {True, False}


def test_alpaca_with_system_input_and_history():
    rows = [{"instruction": "Sum", "input": "1 2", "output": "3", "system": "Be brief",
             "history": [["hi", "hello"]]}]
    (rec,) = D.normalize(rows)
    assert [m["role"] for m in rec["messages"]] == ["system", "user", "assistant", "user",
                                                   "assistant"]
    assert rec["messages"][3]["content"] == "Sum\n1 2"


def test_trl_preference_shapes():
    explicit = {"prompt": "Q?", "chosen": "good", "rejected": "bad"}
    implicit = {"chosen": [{"role": "user", "content": "Q?"},
                           {"role": "assistant", "content": "good"}],
                "rejected": [{"role": "user", "content": "Q?"},
                             {"role": "assistant", "content": "bad"}]}
    for row in (explicit, implicit):
        (rec,) = D.normalize([row])
        assert rec["prompt"] == [{"role": "user", "content": "Q?"}]
        assert rec["chosen"][0]["content"] == "good" and rec["rejected"][0]["content"] == "bad"


def test_text_and_prompt_completion():
    assert D.normalize([{"text": "hello"}]) == [{"text": "hello"}]
    (rec,) = D.normalize([{"prompt": "a", "completion": "b"}])
    assert rec["messages"][-1] == {"role": "assistant", "content": "b"}


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_other_file_types(tmp_path, suffix):
    rows = [{"instruction": "q1", "input": "", "output": "a1"},
            {"instruction": "q2", "input": "x", "output": "a2"}]
    path = tmp_path / f"d{suffix}"
    if suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    elif suffix == ".csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    else:
        pd.DataFrame(rows).to_parquet(path)
    records, fmt = D.load_records(path)
    assert fmt == "alpaca" and records[1]["messages"][0]["content"] == "q2\nx"
    assert records[0]["messages"][0]["content"] == "q1"  # an empty csv cell is not "nan"


def test_errors_name_file_row_and_field(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('[{"instruction": "a", "output": "b"},\n {"instruction": }]')
    with pytest.raises(DataError, match=r"bad\.json: invalid JSON at line 2"):
        read_rows(bad_json)
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "c"}]))
    with pytest.raises(DataError, match=r"missing\.json: row 2: field 'output' is missing"):
        D.load_records(missing)
    roles = tmp_path / "roles.json"
    roles.write_text(json.dumps([{"conversations": [{"from": "alien", "value": "x"}]}]))
    with pytest.raises(DataError, match=r"row 1: field 'conversations' turn 1: unknown role"):
        D.load_records(roles)
    unknown = tmp_path / "cols.json"
    unknown.write_text(json.dumps([{"question": "a", "reply": "b"}]))
    with pytest.raises(DataError, match="cannot tell the format"):
        D.load_records(unknown)
    with pytest.raises(DataError, match="file not found"):
        read_rows(tmp_path / "nope.json")


def test_column_mapping_fixes_unknown_columns(tmp_path):
    path = tmp_path / "cols.json"
    path.write_text(json.dumps([{"question": "a", "reply": "b"}]))
    records, _ = D.load_records(path, fmt="alpaca",
                                mapping={"instruction": "question", "output": "reply"})
    assert records[0]["messages"][-1]["content"] == "b"


def test_validation_lists_rows():
    records = [
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}]},
        {"messages": [{"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "robot", "content": "a"}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "s"},
                      {"role": "assistant", "content": "a"}]},
    ]
    found = {(p.row, p.message) for p in validate(records)}
    assert (1, "empty answer") in found
    assert (2, "assistant turn without a user turn before it") in found
    assert (3, "unknown role 'robot'") in found
    assert (4, "a system turn must come first") in found


def test_placeholders_and_save_never_overwrites(tmp_path):
    records = D.fill_placeholders(
        [{"messages": [{"role": "assistant", "content": "I am {{name}} by {{author}}"}]}],
        {"name": "Nova", "author": "Acme"})
    assert records[0]["messages"][0]["content"] == "I am Nova by Acme"
    workspace = Workspace(tmp_path)
    path = store.save_dataset(workspace, "out", records)
    assert D.load_records(path)[0] == records
    before = path.read_bytes()
    with pytest.raises(DataError, match="already exists"):
        store.save_dataset(workspace, "out", [{"text": "other"}])
    assert path.read_bytes() == before  # the first file is untouched
