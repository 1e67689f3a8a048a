"""Every common dataset shape trains the way its author meant.

Each case is a few hand-written rows in today's common shapes. They go through the same path as
a user's file: written to disk, read, detected, converted, rendered with a chat template and
masked. The test then checks the rendered text and the exact trained text. Two templates are
used: the tiny model's plain ChatML (no tool or thinking slot, so the documented fallback
applies) and ``NATIVE``, written here, which has both slots (like Qwen's or Llama's).
"""

from __future__ import annotations

import copy
import json

import pytest

from studio.engine.data import template
from studio.engine.data.formats import load_records
from studio.engine.data.validate import validate
from studio.engine.errors import DataError
from studio.engine.models import load_tokenizer

NATIVE = (
    "{%- if tools %}<|im_start|>system\n# Tools\n{% for t in tools %}{{ t | tojson }}\n"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{%- for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>{% endif %}"
    "{{ m.content }}{% for c in m.tool_calls or [] %}<call>{{ c.function.name }}"
    "{{ c.function.arguments | tojson }}</call>{% endfor %}<|im_end|>\n{% endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


@pytest.fixture(scope="module")
def plain(tiny_model_dir):
    return load_tokenizer(str(tiny_model_dir))


@pytest.fixture(scope="module")
def native(plain):
    tok = copy.deepcopy(plain)
    tok.chat_template = NATIVE
    return tok


def load(tmp_path, rows, suffix=".jsonl"):
    path = tmp_path / f"data{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                        encoding="utf-8")
    else:
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return load_records(path)


def trained(tok, record) -> tuple[str, list[str]]:
    """The rendered text and the text of each trained span."""
    text, spans = template.assistant_spans(tok, record["messages"], record.get("tools"))
    return text, [text[s:e] for s, e in spans]


def trained_tokens(tok, record) -> str:
    enc = template.tokenize_record(tok, record)
    return tok.decode([i for i, m in zip(enc["input_ids"], enc["assistant_masks"]) if m])


# --------------------------------------------------------------------------- content parts


def test_text_parts_are_joined_in_order_never_stringified(tmp_path, plain):
    rows = [{"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Hello"},
                                     {"type": "text", "text": "who are you?"}]},
        {"role": "assistant", "content": [{"type": "text", "value": "I am Nova."}]}]}]
    (record,), fmt = load(tmp_path, rows)
    assert fmt == "messages" and validate([record]) == []
    assert record["messages"][0]["content"] == "Hello\nwho are you?"
    text, spans = trained(plain, record)
    assert "[{" not in text and "'type'" not in text and "Hello\nwho are you?" in text
    assert spans == ["I am Nova.<|im_end|>\n"]


def test_an_image_part_is_a_named_row_problem(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "hi"},
                          {"role": "assistant", "content": "hello"}]},
            {"messages": [
                {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                             {"type": "image_url", "image_url": {"url": "x"}}]},
                {"role": "assistant", "content": "A cat."}]}]
    records, _ = load(tmp_path, rows)
    (problem,) = validate(records)
    assert (problem.row, problem.field, problem.code) == (2, "messages[1]",
                                                          "problem_part_unsupported")
    assert "'image_url' part" in problem.message
    assert isinstance(records[1]["messages"][0]["content"], list)  # kept, not stringified


# --------------------------------------------------------------------------- tool calls

OPENAI_TOOLS = {"tools": [WEATHER], "messages": [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "{\"temp\": 21}"},
    {"role": "assistant", "content": "It is 21 degrees."}]}

SHAREGPT_TOOLS = {"tools": json.dumps([WEATHER]), "conversations": [
    {"from": "human", "value": "Weather in Paris?"},
    {"from": "function_call", "value": "{\"name\": \"get_weather\", "
                                       "\"arguments\": {\"city\": \"Paris\"}}"},
    {"from": "observation", "value": "{\"temp\": 21}"},
    {"from": "gpt", "value": "It is 21 degrees."}]}


@pytest.mark.parametrize("row", [OPENAI_TOOLS, SHAREGPT_TOOLS], ids=["openai", "sharegpt"])
def test_tool_calls_reach_the_template_natively(tmp_path, native, row):
    (record,), _ = load(tmp_path, [row])
    assert validate([record]) == []
    assert record["tools"] == [WEATHER]
    assert record["messages"][1]["tool_calls"][0]["function"] == {
        "name": "get_weather", "arguments": {"city": "Paris"}}
    text, spans = trained(native, record)
    assert text.startswith("<|im_start|>system\n# Tools\n{\"type\": \"function\"")
    # The call (name + arguments) is trained; the tool's result is not.
    assert spans == ["<call>get_weather{\"city\": \"Paris\"}</call><|im_end|>\n",
                     "It is 21 degrees.<|im_end|>\n"]
    assert "{\"temp\": 21}" in text and not any("temp" in s for s in spans)
    assert template.notes(native, record) == ["tools_native"]


@pytest.mark.parametrize("row", [OPENAI_TOOLS, SHAREGPT_TOOLS], ids=["openai", "sharegpt"])
def test_a_template_without_tools_gets_the_documented_fallback(tmp_path, plain, row):
    (record,), _ = load(tmp_path, [row])
    text, spans = trained(plain, record)
    assert text.startswith("<|im_start|>system\nYou can call these tools:\n[{\"type\": ")
    call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n" \
           "</tool_call>"
    assert spans == [f"{call}<|im_end|>\n", "It is 21 degrees.<|im_end|>\n"]
    assert "get_weather" in trained_tokens(plain, record) and "temp" not in \
        trained_tokens(plain, record)
    assert template.notes(plain, record) == ["tools_fallback"]


def test_unreadable_call_arguments_name_the_row(tmp_path):
    bad = copy.deepcopy(OPENAI_TOOLS)
    bad["messages"][1]["tool_calls"][0]["function"]["arguments"] = "{city: Paris"
    with pytest.raises(DataError, match=r"row 1: field 'messages' message 2: a tool call the "
                                        r"studio cannot read \(not valid JSON"):
        load(tmp_path, [bad])


# --------------------------------------------------------------------------- reasoning

REASONING = {"messages": [{"role": "user", "content": "2+2?"},
                          {"role": "assistant", "reasoning_content": "Two and two make four.",
                           "content": "4"}]}


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning", "thinking"])
def test_reasoning_goes_to_the_thinking_slot(tmp_path, native, key):
    row = copy.deepcopy(REASONING)
    row["messages"][1][key] = row["messages"][1].pop("reasoning_content")
    (record,), _ = load(tmp_path, [row])
    assert trained(native, record)[1] == ["<think>Two and two make four.</think>4<|im_end|>\n"]
    assert template.notes(native, record) == ["reasoning_native"]


def test_reasoning_parts_without_a_slot_stay_in_think_tags(tmp_path, plain):
    row = {"messages": [{"role": "user", "content": "2+2?"},
                        {"role": "assistant", "content": [
                            {"type": "thinking", "thinking": "Two and two make four."},
                            {"type": "text", "text": "4"}]}]}
    (record,), _ = load(tmp_path, [row])
    assert record["messages"][1] == {"role": "assistant", "content": "4",
                                     "reasoning_content": "Two and two make four."}
    assert trained(plain, record)[1] == ["<think>\nTwo and two make four.\n</think>\n\n4"
                                         "<|im_end|>\n"]
    assert template.notes(plain, record) == ["reasoning_think"]


# --------------------------------------------------------------------------- turn weights


@pytest.mark.parametrize("key", ["loss_weight", "weight"])
def test_weight_zero_turns_are_shown_but_not_trained(tmp_path, plain, key):
    row = {"messages": [{"role": "user", "content": "Hi"},
                        {"role": "assistant", "content": "Draft answer.", key: 0},
                        {"role": "user", "content": "Again"},
                        {"role": "assistant", "content": "Good answer.", key: 1}]}
    (record,), _ = load(tmp_path, [row])
    text, spans = trained(plain, record)
    assert "Draft answer." in text and spans == ["Good answer.<|im_end|>\n"]
    odd = copy.deepcopy(row)
    odd["messages"][1][key] = 0.5
    records, _ = load(tmp_path, [odd])
    assert [p.code for p in validate(records)] == ["problem_weight"]


# --------------------------------------------------------------------------- preference


PREFERENCE_SHAPES = {
    "chosen_messages": {"chosen_messages": [{"role": "user", "content": "Q?"},
                                            {"role": "assistant", "content": "Good."}],
                        "rejected_messages": [{"role": "user", "content": "Q?"},
                                              {"role": "assistant", "content": "Bad."}]},
    "sharegpt": {"conversations": [{"from": "human", "value": "Q?"}],
                 "chosen": {"from": "gpt", "value": "Good."},
                 "rejected": {"from": "gpt", "value": "Bad."}},
    "strings": {"prompt": "Q?", "chosen": "Good.", "rejected": "Bad."},
    "message_lists": {"prompt": [{"role": "user", "content": "Q?"}],
                      "chosen": [{"role": "assistant", "content": "Good."}],
                      "rejected": [{"role": "assistant", "content": "Bad."}]},
}


@pytest.mark.parametrize("shape", sorted(PREFERENCE_SHAPES))
def test_preference_shapes_become_the_same_pair(tmp_path, shape):
    (record,), fmt = load(tmp_path, [PREFERENCE_SHAPES[shape]])
    assert fmt == "preference" and validate([record]) == []
    assert record == {"prompt": [{"role": "user", "content": "Q?"}],
                      "chosen": [{"role": "assistant", "content": "Good."}],
                      "rejected": [{"role": "assistant", "content": "Bad."}]}


def test_kto_rows_keep_their_label(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "Q?"},
                          {"role": "assistant", "content": "A."}], "label": False}]
    (record,), _ = load(tmp_path, rows)
    assert record["label"] is False


# --------------------------------------------------------------------------- never silent


def test_a_content_the_converter_cannot_read_is_listed(tmp_path):
    rows = [{"messages": [{"role": "user", "content": {"question": "Q?"}},
                          {"role": "assistant", "content": "A."}]}]
    records, _ = load(tmp_path, rows)
    (problem,) = validate(records)
    assert (problem.row, problem.field, problem.code) == (1, "messages[1]",
                                                          "problem_content_type")


def test_a_tool_result_without_a_call_is_listed(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "Q?"},
                          {"role": "tool", "content": "42"},
                          {"role": "assistant", "content": "A."}]}]
    records, _ = load(tmp_path, rows)
    assert [(p.field, p.code) for p in validate(records)] == [("messages[2]",
                                                               "problem_tool_result")]


def test_the_rows_table_shows_calls_and_kept_parts(tmp_path):
    from studio.engine.data.edit import flat_row

    (record,), _ = load(tmp_path, [OPENAI_TOOLS])
    assert flat_row(1, record)[3] == '→ get_weather({"city": "Paris"})'
    image = {"messages": [{"role": "user", "content": [{"type": "image", "image": "x.png"}]},
                          {"role": "assistant", "content": "A cat."}]}
    (record,), _ = load(tmp_path, [image])
    assert flat_row(1, record)[2:4] == ["[image]", "A cat."]


def test_an_empty_question_is_listed(tmp_path):
    """A message whose text sits under a key the converter does not read (here ``text``)."""
    rows = [{"messages": [{"role": "user", "text": "Q?"}, {"role": "assistant", "content": "A."}]}]
    records, _ = load(tmp_path, rows)
    assert [(p.row, p.field, p.code) for p in validate(records)] == [
        (1, "messages[1]", "problem_empty_question")]


def test_a_function_calling_dataset_trains(tmp_path, tiny_config):
    """End to end: the tool-call rows train (the trainer gets the same rendering as above)."""
    import dataclasses

    from studio.engine.runs import RunStore
    from studio.engine.train.job import run_training

    path = tmp_path / "tools.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [OPENAI_TOOLS] * 8),
                    encoding="utf-8")
    cfg = dataclasses.replace(tiny_config, dataset=str(path), max_steps=2, probe_steps=0,
                              max_length=512)
    store = RunStore(tmp_path / "runs")
    run = store.create(cfg)
    assert run_training(run) == "completed", run.status().get("error")
    assert "8 training rows" in run.log_path.read_text(encoding="utf-8")
    assert [m["step"] for m in run.metrics() if "loss" in m] == [1, 2]
    # The tool schemas make the prompt long: cut at 64 tokens, no answer is left to learn,
    # and the run says so instead of failing inside TRL on an empty dataset.
    short = store.create(dataclasses.replace(cfg, max_length=64))
    assert run_training(short) == "failed"
    assert "nothing left to learn: 8 rows have no answer token within max_length 64" in \
        short.status()["error"]
