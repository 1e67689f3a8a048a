"""The token preview and length statistics on the tiny in-process tokenizer.

The tiny byte-level BPE splits most Chinese characters over several tokens, which is exactly the
case where decoding token by token shows replacement characters; the preview must reproduce the
rendered text exactly and mark the same tokens the trainer trains.
"""

from __future__ import annotations

import pytest

from studio.engine.data import preview as pv
from studio.engine.data.template import assistant_spans, tokenize_record

CHAT = {"messages": [{"role": "system", "content": "你是甄嬛。"},
                     {"role": "user", "content": "你是谁？"},
                     {"role": "assistant", "content": "我是一个人工智能助手。"},
                     {"role": "user", "content": "Who are you?"},
                     {"role": "assistant", "content": "本宫是甄嬛。"}]}


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return pv.cached_tokenizer(str(tiny_model_dir))


def test_pieces_reproduce_the_text_and_the_trainer_mask(tokenizer):
    pieces = pv.pieces(tokenizer, CHAT)
    text, _ = assistant_spans(tokenizer, CHAT["messages"])
    assert "".join(p.text for p in pieces) == text
    assert "\ufffd" not in text
    enc = tokenize_record(tokenizer, CHAT)
    assert sum(p.tokens for p in pieces) == len(enc["input_ids"])
    assert sum(p.tokens for p in pieces if p.trained) == sum(enc["assistant_masks"])
    trained = "".join(p.text for p in pieces if p.trained)
    assert "我是一个人工智能助手。" in trained and "本宫是甄嬛。" in trained
    assert "你是谁" not in trained and "你是甄嬛" not in trained


def test_whole_sequence_mode_trains_everything(tokenizer):
    assert all(p.trained for p in pv.pieces(tokenizer, CHAT, assistant_only=False))


def test_text_rows_show_the_added_end_token(tokenizer):
    pieces = pv.pieces(tokenizer, {"text": "以下是中国关于考试的单项选择题"})
    assert pieces[0].text == "以下是中国关于考试的单项选择题" and pieces[0].trained
    assert pieces[-1].special and pieces[-1].text == tokenizer.eos_token


def test_preference_rows_have_two_sides():
    record = {"prompt": [{"role": "user", "content": "q"}],
              "chosen": [{"role": "assistant", "content": "good"}],
              "rejected": [{"role": "assistant", "content": "bad"}]}
    sides = pv.conversations(record)
    assert [s for s, _ in sides] == ["chosen", "rejected"]
    assert sides[1][1]["messages"][-1]["content"] == "bad"


def test_lengths_stats_and_histogram(tokenizer):
    short = {"messages": [{"role": "user", "content": "hi"},
                          {"role": "assistant", "content": "hello"}]}
    pair = {"prompt": [{"role": "user", "content": "q"}],
            "chosen": [{"role": "assistant", "content": "a"}],
            "rejected": [{"role": "assistant", "content": "a much longer rejected answer"}]}
    lengths, failed = pv.lengths(tokenizer, [short, CHAT, {"text": "abc"}, pair])
    assert failed == {} and all(n and n > 0 for n in lengths)
    assert lengths[1] == len(tokenize_record(tokenizer, CHAT)["input_ids"])
    assert lengths[2] == len(tokenize_record(tokenizer, {"text": "abc"})["input_ids"])
    s = pv.stats(lengths, max_length=lengths[0])
    assert s.count == 4 and s.max == max(lengths) and s.p50 <= s.p95 <= s.max
    assert s.over == [i + 1 for i, n in enumerate(lengths) if n > lengths[0]]
    assert sum(c for _, _, c in s.bins) == 4
    assert s.bins[-1][1] > max(max(lengths), s.max_length)


def test_histogram_bins_are_round_numbers():
    bins = pv.histogram([10, 480, 900, 1300], max_length=512)
    widths = {end - start for start, end, _ in bins}
    assert widths == {100} and sum(c for *_, c in bins) == 4
