"""LLaMA-Factory ``dataset_info.json`` entries read into the studio's shapes with their column
and tag mapping, and every setting the studio cannot honour refused with a message naming the
entry (and the row). Listing, picking and the Data tab are ``test_dataset_info_listing.py``.
"""

from __future__ import annotations

import json

import pytest

from studio.engine.data import dataset_info as di
from studio.engine.data.formats import load_records
from studio.engine.data.read import read_rows
from studio.engine.errors import DataError
from tests.llama_factory import assistant, entry, folder_with, user

# --------------------------------------------------------------------------- the shapes


def test_alpaca_entry_with_renamed_columns(tmp_path):
    rows = [{"question": "Add 2 and 3", "context": "as a number", "answer": "5",
             "persona": "Be terse", "past": [["hi", "hello"]], "ignored": "x"},
            {"question": "Name a colour", "context": "", "answer": "blue", "persona": None,
             "past": []}]
    info = folder_with(tmp_path, {"maths": {
        "file_name": "maths.json",
        "columns": {"prompt": "question", "query": "context", "response": "answer",
                    "system": "persona", "history": "past"}}}, {"maths.json": rows})
    raw = read_rows(entry(info, "maths"))
    assert raw[0] == {"instruction": "Add 2 and 3", "input": "as a number", "output": "5",
                      "system": "Be terse", "history": [["hi", "hello"]]}
    records, fmt = load_records(entry(info, "maths"))
    assert fmt == "alpaca"
    assert records == [
        {"messages": [{"role": "system", "content": "Be terse"}, user("hi"), assistant("hello"),
                      user("Add 2 and 3\nas a number"), assistant("5")]},
        {"messages": [user("Name a colour"), assistant("blue")]}]


def test_alpaca_entry_without_columns_uses_llama_factory_defaults(tmp_path):
    info = folder_with(tmp_path, {"plain": {"file_name": "plain.jsonl"}},
                       {"plain.jsonl": [{"instruction": "hi", "input": "", "output": "hello",
                                         "system": "not named, so not used"}]})
    records, _ = load_records(entry(info, "plain"))
    assert records == [{"messages": [user("hi"), assistant("hello")]}]


def test_sharegpt_entry_with_custom_tags_becomes_exactly_these_messages(tmp_path):
    rows = [{"dialog": [{"role": "system", "content": "You are kind."},
                        {"role": "user", "content": "Hi"},
                        {"role": "assistant", "content": "Hello!"},
                        {"role": "user", "content": "Bye"},
                        {"role": "assistant", "content": "Goodbye."}],
             "persona": "overridden by the leading system turn"}]
    info = folder_with(tmp_path, {"chat": {
        "file_name": "chat.json", "formatting": "sharegpt",
        "columns": {"messages": "dialog", "system": "persona"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                 "assistant_tag": "assistant", "system_tag": "system"}}}, {"chat.json": rows})
    assert read_rows(entry(info, "chat")) == [{
        "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"},
                          {"from": "human", "value": "Bye"},
                          {"from": "gpt", "value": "Goodbye."}],
        "system": "You are kind."}]
    records, fmt = load_records(entry(info, "chat"))
    assert fmt == "sharegpt"
    assert records == [{"messages": [{"role": "system", "content": "You are kind."}, user("Hi"),
                                     assistant("Hello!"), user("Bye"), assistant("Goodbye.")]}]


def test_sharegpt_tool_tags_and_tools_column(tmp_path):
    call = json.dumps({"name": "weather", "arguments": {"city": "Paris"}})
    rows = [{"turns": [{"speaker": "me", "text": "Weather in Paris?"},
                       {"speaker": "call", "text": call},
                       {"speaker": "result", "text": "{\"sky\": \"clear\"}"},
                       {"speaker": "bot", "text": "Clear skies."}],
             "functions": json.dumps([{"name": "weather", "parameters": {}}])}]
    info = folder_with(tmp_path, {"tools": {
        "file_name": "tools.json", "formatting": "sharegpt",
        "columns": {"messages": "turns", "tools": "functions"},
        "tags": {"role_tag": "speaker", "content_tag": "text", "user_tag": "me",
                 "assistant_tag": "bot", "function_tag": "call", "observation_tag": "result"}}},
        {"tools.json": rows})
    raw = read_rows(entry(info, "tools"))[0]
    assert [t["from"] for t in raw["conversations"]] == ["human", "function_call",
                                                         "observation", "gpt"]
    assert raw["tools"] == rows[0]["functions"]
    records, _ = load_records(entry(info, "tools"))
    assert [m["role"] for m in records[0]["messages"]] == ["user", "assistant", "tool",
                                                           "assistant"]


def test_ranking_entries_become_preference_records(tmp_path):
    info = folder_with(tmp_path, {
        "pairs": {"file_name": "pairs.json", "ranking": True,
                  "columns": {"prompt": "q", "query": "extra", "chosen": "good",
                              "rejected": "bad"}},
        "chat_pairs": {"file_name": "chat_pairs.json", "ranking": True,
                       "formatting": "sharegpt",
                       "columns": {"messages": "msgs", "chosen": "win", "rejected": "lose"},
                       "tags": {"role_tag": "role", "content_tag": "content",
                                "user_tag": "user", "assistant_tag": "assistant"}}},
        {"pairs.json": [{"q": "Capital of France?", "extra": "One word.", "good": "Paris",
                         "bad": "Lyon"}],
         "chat_pairs.json": [{"msgs": [{"role": "user", "content": "2+2?"}],
                              "win": {"role": "assistant", "content": "4"},
                              "lose": {"role": "assistant", "content": "5"}}]})
    records, fmt = load_records(entry(info, "pairs"))
    assert fmt == "preference"
    assert records == [{"prompt": [user("Capital of France?\nOne word.")],
                        "chosen": [assistant("Paris")], "rejected": [assistant("Lyon")]}]
    records, fmt = load_records(entry(info, "chat_pairs"))
    assert fmt == "preference"
    assert records == [{"prompt": [user("2+2?")], "chosen": [assistant("4")],
                        "rejected": [assistant("5")]}]


def test_kto_tag_becomes_the_label(tmp_path):
    info = folder_with(tmp_path, {
        "kto": {"file_name": "kto.jsonl", "formatting": "sharegpt",
                "columns": {"messages": "messages", "kto_tag": "verdict"},
                "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                         "assistant_tag": "assistant"}},
        "kto_alpaca": {"file_name": "kto.csv", "columns": {"prompt": "q", "response": "a",
                                                           "kto_tag": "ok"}}},
        {"kto.jsonl": [{"messages": [user("hi"), assistant("hello")], "verdict": True},
                       {"messages": [user("hi"), assistant("go away")], "verdict": False}],
         "kto.csv": "q,a,ok\nhi,hello,true\nhi,go away,false\n"})
    for name in ("kto", "kto_alpaca"):
        records, _ = load_records(entry(info, name))
        assert records == [{"messages": [user("hi"), assistant("hello")], "label": True},
                           {"messages": [user("hi"), assistant("go away")], "label": False}]


def test_a_prompt_only_entry_is_text_for_pretraining(tmp_path):
    info = folder_with(tmp_path, {"c4": {"file_name": "c4.jsonl", "columns": {"prompt": "text"}}},
                       {"c4.jsonl": [{"text": "First document."}, {"text": "Second one."}]})
    records, fmt = load_records(entry(info, "c4"))
    assert fmt == "text" and records == [{"text": "First document."}, {"text": "Second one."}]


def test_a_folder_entry_reads_every_file_and_num_samples_samples(tmp_path):
    info = folder_with(tmp_path, {"parts": {"file_name": "parts", "num_samples": 5},
                                  "mixed": {"file_name": "mixed"}}, {})
    (info.parent / "parts").mkdir()
    (info.parent / "mixed").mkdir()
    for i in range(2):
        rows = [{"instruction": f"q{i}{j}", "output": f"a{i}{j}"} for j in range(2)]
        (info.parent / "parts" / f"{i}.jsonl").write_text(
            "\n".join(json.dumps(r) for r in rows), encoding="utf-8")
        (info.parent / "mixed" / f"{i}.{('json', 'csv')[i]}").write_text(
            json.dumps(rows) if i == 0 else "instruction,output\nq,a\n", encoding="utf-8")
    rows = read_rows(entry(info, "parts"))
    assert len(rows) == 5 and {r["instruction"] for r in rows} == {"q00", "q01", "q10", "q11"}
    assert read_rows(entry(info, "parts")) == rows  # seeded: the same rows every time
    with pytest.raises(DataError, match=r"mixes file types \(.csv, .json\)"):
        read_rows(entry(info, "mixed"))


def test_hub_entries_go_through_the_reader_with_their_split(tmp_path):
    info = folder_with(tmp_path, {"adgen_eval": {
        "hf_hub_url": "HasturOfficial/adgen", "split": "validation",
        "columns": {"prompt": "content", "response": "summary"}}}, {})
    calls = []

    def reader(source, split="train", **kwargs):
        calls.append((source, split))
        return [{"content": "an ad for shoes", "summary": "Great shoes."}]

    rows = di.read_entry(entry(info, "adgen_eval"), reader)
    assert calls == [("HasturOfficial/adgen", "validation")]
    assert rows == [{"instruction": "an ad for shoes", "input": None, "output": "Great shoes."}]
    assert "adgen_eval" in di.list_entries(info)  # a hub entry is listed: nothing to check here


# --------------------------------------------------------------------------- refusals


def test_a_file_name_outside_the_folder_is_refused(tmp_path):
    (tmp_path / "secret.json").write_text(json.dumps([{"instruction": "a", "output": "b"}]))
    info = folder_with(tmp_path, {"up": {"file_name": "../secret.json"},
                                  "absolute": {"file_name": str(tmp_path / "secret.json")}}, {})
    names, problems = di.scan_entries(info)
    assert names == [] and {p.code for p in problems} == {"info_file_escape"}
    for name in ("up", "absolute"):
        with pytest.raises(DataError, match="points outside") as exc:
            read_rows(entry(info, name))
        assert f"#{name}" in str(exc.value)


def test_an_images_column_is_refused_with_a_clear_message(tmp_path):
    info = folder_with(tmp_path, {"mllm_demo": {
        "file_name": "mllm.json", "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"}}},
        {"mllm.json": [{"messages": [], "images": ["a.jpg"]}]})
    with pytest.raises(DataError) as exc:
        read_rows(entry(info, "mllm_demo"))
    assert exc.value.reason.code == "info_media"
    assert str(exc.value) == (f"{info}#mllm_demo: the images column 'images' holds images, audio "
                              "or video, and this studio trains text-only models; use a dataset "
                              "without them")


def test_a_role_no_tag_names_is_refused_naming_the_row(tmp_path):
    info = folder_with(tmp_path, {"chat": {
        "file_name": "chat.json", "formatting": "sharegpt",
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                 "assistant_tag": "assistant"}}},
        {"chat.json": [{"conversations": [user("hi"), assistant("hello")]},
                       {"conversations": [user("hi"), {"role": "bot", "content": "beep"}]},
                       {"conversations": [{"from": "human", "value": "hi"}]}]})
    with pytest.raises(DataError) as exc:
        read_rows(entry(info, "chat"))
    assert str(exc.value) == (f"{info}#chat: row 2: field 'conversations' turn 2: role 'bot' is "
                              "none of the entry's tags (user, assistant, observation, "
                              "function_call, system)")


@pytest.mark.parametrize("spec, code", [
    ({"file_name": "d.json", "formatting": "openai"}, "info_formatting"),
    ({"file_name": "d.json", "colums": {}}, "info_key_unknown"),
    ({"file_name": "d.json", "columns": {"respones": "output"}}, "info_column_unknown"),
    ({"file_name": "d.json", "columns": {"messages": "conversations"}}, "info_key_format"),
    ({"file_name": "d.json", "tags": {"role_tag": "role"}}, "info_key_format"),
    ({"file_name": "d.json", "formatting": "sharegpt", "tags": {"user": "u"}},
     "info_tag_unknown"),
    ({"file_name": "d.json", "columns": {"prompt": "question"}}, "info_column_missing"),
    ({"file_name": "d.json", "columns": {"kto_tag": "label"}, "ranking": True},
     "info_kto_ranking"),
    ({"file_name": "d.json", "ranking": "yes"}, "info_value_type"),
    ({"file_name": "d.json", "split": "test"}, "info_hub_only"),
    ({"ms_hub_url": "AI-ModelScope/webqa"}, "info_source_unsupported"),
    ({"script_url": "belle"}, "info_source_unsupported"),
    ({"formatting": "alpaca"}, "info_no_source"),
    ("d.json", "info_entry_object"),
])
def test_settings_the_studio_cannot_honour_are_refused(tmp_path, spec, code):
    info = folder_with(tmp_path, {"e": spec}, {"d.json": [{"instruction": "a", "output": "b"}]})
    with pytest.raises(DataError) as exc:
        read_rows(entry(info, "e"))
    assert exc.value.reason.code == code and f"{info}#e" in str(exc.value)


def test_a_kto_tag_that_is_not_true_or_false_names_the_row(tmp_path):
    info = folder_with(tmp_path, {"kto": {"file_name": "k.json",
                                          "columns": {"kto_tag": "label"}}},
                       {"k.json": [{"instruction": "a", "output": "b", "label": True},
                                   {"instruction": "a", "output": "b", "label": "maybe"}]})
    with pytest.raises(DataError, match=r"#kto: row 2: field 'label' \(kto_tag\) must be true "
                                        r"or false, got 'maybe'"):
        read_rows(entry(info, "kto"))
