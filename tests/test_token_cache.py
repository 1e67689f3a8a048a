"""The on-disk tokenization cache: a second run on the same data skips the work, any change that
alters the result re-tokenizes, and a damaged or unwritable cache is never an error.

``STUDIO_CACHE`` points at the test's own folder, so the user's cache is never touched, and
``tokenize_record`` is wrapped to count calls: a hit is a call that tokenizes nothing.
"""

from __future__ import annotations

import json
import os

import pytest

from studio.engine.data import token_cache
from studio.engine.data.template import tokenize_record
from studio.engine.models import load_tokenizer


def _chat(q: str, a: str) -> dict:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


RECORDS = [_chat("Who are you?", "I am Nova."), _chat("你是谁？", "我是 Nova。"),
           _chat("Tell me who you are.", "An assistant made by Acme Lab.")]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """An empty cache folder of the test's own, and a counter of rows really tokenized."""
    monkeypatch.setenv("STUDIO_CACHE", str(tmp_path / "cache"))
    calls: list[dict] = []

    def counting(tokenizer, record, assistant_only=True):
        calls.append(record)
        return tokenize_record(tokenizer, record, assistant_only)

    monkeypatch.setattr(token_cache, "tokenize_record", counting)
    return tmp_path / "cache" / "tokenized", calls


@pytest.fixture()
def tokenizer(tiny_model_dir):
    return load_tokenizer(str(tiny_model_dir))  # fresh each test: some tests change it


def entries(folder) -> set[str]:
    return {p.name for p in folder.glob("*.json")} if folder.exists() else set()


def test_first_call_misses_and_writes_second_call_hits(cache, tokenizer):
    folder, calls = cache
    first = token_cache.tokenize_records(tokenizer, RECORDS)
    assert len(calls) == len(RECORDS)
    assert first == [tokenize_record(tokenizer, r, True) for r in RECORDS]
    (entry,) = entries(folder)
    assert entry == f"{token_cache.cache_key(tokenizer, RECORDS, True)}.json"
    assert json.loads((folder / entry).read_text(encoding="utf-8")) == first
    again = token_cache.tokenize_records(tokenizer, [dict(r) for r in RECORDS])  # equal copies
    assert again == first
    assert len(calls) == len(RECORDS)  # nothing tokenized the second time
    assert entries(folder) == {entry}


@pytest.mark.parametrize("change", ["record", "assistant_only", "chat_template"])
def test_a_change_that_alters_the_result_makes_a_new_entry(cache, tokenizer, change):
    folder, calls = cache
    token_cache.tokenize_records(tokenizer, RECORDS)
    (old,) = entries(folder)
    records, assistant_only = RECORDS, True
    if change == "record":  # e.g. a filled placeholder: one answer differs
        records = [*RECORDS[:2], _chat("Tell me who you are.", "An assistant made by Other Lab.")]
    elif change == "assistant_only":
        assistant_only = False
    else:
        # The template's default system prompt: every row renders differently.
        template = tokenizer.chat_template
        tokenizer.chat_template = template.replace("a helpful assistant", "a careful assistant")
        assert tokenizer.chat_template != template
    calls.clear()
    rows = token_cache.tokenize_records(tokenizer, records, assistant_only)
    assert len(calls) == len(records)  # tokenized afresh, not served from the old entry
    assert rows == [tokenize_record(tokenizer, r, assistant_only) for r in records]
    assert len(entries(folder) - {old}) == 1 and old in entries(folder)
    if change == "assistant_only":  # the old entry trained only the answers
        assert sum(rows[0]["assistant_masks"]) == len(rows[0]["input_ids"])
        old_rows = json.loads((folder / old).read_text(encoding="utf-8"))
        assert sum(old_rows[0]["assistant_masks"]) < len(old_rows[0]["input_ids"])


@pytest.mark.parametrize("damage", ["garbage", "half written", "wrong row count", "not a list"])
def test_a_damaged_entry_is_tokenized_again_without_error(cache, tokenizer, damage):
    folder, calls = cache
    good = token_cache.tokenize_records(tokenizer, RECORDS)
    (entry,) = entries(folder)
    path = folder / entry
    text = path.read_text(encoding="utf-8")
    path.write_text({"garbage": "\x00\x01 not json", "half written": text[: len(text) // 2],
                     "wrong row count": json.dumps(good[:1]),
                     "not a list": json.dumps({"rows": good})}[damage], encoding="utf-8")
    calls.clear()
    assert token_cache.tokenize_records(tokenizer, RECORDS) == good
    assert len(calls) == len(RECORDS)
    assert json.loads(path.read_text(encoding="utf-8")) == good  # repaired for the next run
    calls.clear()
    token_cache.tokenize_records(tokenizer, RECORDS)
    assert calls == []


def test_an_unwritable_cache_only_costs_the_head_start(tmp_path, monkeypatch, tokenizer):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be", encoding="utf-8")
    monkeypatch.setenv("STUDIO_CACHE", str(blocker))
    rows = token_cache.tokenize_records(tokenizer, RECORDS)
    assert rows == [tokenize_record(tokenizer, r, True) for r in RECORDS]
    assert blocker.read_text(encoding="utf-8").startswith("a file")


def test_old_entries_are_pruned_to_the_newest(cache, tokenizer, monkeypatch):
    folder, _ = cache
    monkeypatch.setattr(token_cache, "KEEP_ENTRIES", 2)
    names = []
    for i in range(3):
        data = [_chat(f"question {i}", "answer")]
        token_cache.tokenize_records(tokenizer, data)
        names.append(f"{token_cache.cache_key(tokenizer, data, True)}.json")
        if i < 2:  # file times are coarse: make the older entries unmistakably older
            os.utime(folder / names[i], (1_000_000 + i, 1_000_000 + i))
    assert entries(folder) == {names[1], names[2]}
