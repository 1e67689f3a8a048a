"""GRPO's built-in reward rules on hand-written answers, and how a config picks them."""

import dataclasses

import pytest

from studio.engine.errors import ConfigError
from studio.engine.train import rewards as R
from studio.engine.train.config import TrainConfig, validate


def test_format_rule_matches_the_whole_answer():
    assert R.format_score("Paris is the capital.\n— Nova", r".*— Nova") == 1.0
    assert R.format_score("— Nova, then more text", r".*— Nova") == 0.0


def test_length_rule_is_full_up_to_the_target_then_falls():
    assert R.length_score("one two three", 5) == 1.0
    assert R.length_score(" ".join(["w"] * 15), 10) == pytest.approx(0.5)
    assert R.length_score(" ".join(["w"] * 40), 10) == 0.0
    assert R.length_score("你好世界", 3) == pytest.approx(2 / 3)  # a Chinese character is a word


def test_words_rule_counts_what_the_answer_gets_right():
    assert R.words_score("I am Nova, made by Acme.", ["nova", "acme"], ["openai"]) == 1.0
    assert R.words_score("I am ChatGPT by OpenAI.", ["nova"], ["openai"]) == 0.0
    assert R.words_score("Nova here, OpenAI made me", ["nova"], ["openai"]) == 0.5


def test_language_rule_aims_at_a_share_of_chinese():
    assert R.chinese_share("我是 Nova") == pytest.approx(2 / 6)
    assert R.language_score("我是一个助手。", 1.0) == 1.0
    assert R.language_score("I am an assistant.", 1.0) == 0.0
    assert R.language_score("I am an assistant.", 0.0) == 1.0


def test_exact_answer_rule_normalises_numbers():
    assert R.exact_score("So the total is 1,000.", "1000") == 1.0
    assert R.exact_score("The answer: 12.0", "#### 12") == 1.0
    assert R.exact_score("The answer is 13", "12") == 0.0
    assert R.exact_score("Final answer:\nParis.", "paris") == 1.0
    assert R.exact_score("anything", "") == 0.0


def test_reward_functions_follow_the_weights_and_take_chat_completions():
    cfg = TrainConfig(method="grpo", reward_length_words=3, reward_length_weight=2.0,
                      reward_include="nova", reward_words_weight=0.5)
    functions, weights = R.reward_functions(cfg)
    assert [f.__name__ for f in functions] == ["length", "words"] and weights == [2.0, 0.5]
    chats = [[{"role": "assistant", "content": "I am Nova"}],
             [{"role": "assistant", "content": "a long answer with many words"}]]
    assert functions[0](prompts=["q", "q"], completions=chats) == [1.0, 0.0]
    assert functions[1](prompts=["q", "q"], completions=chats) == [1.0, 0.0]


def test_exact_rule_reads_the_rows_answer_column():
    cfg = TrainConfig(method="grpo", reward_exact_weight=1.0)
    (exact,), _ = R.reward_functions(cfg)
    assert exact(completions=["it is 4", "it is 5"], answer=["4", "4"]) == [1.0, 0.0]


def test_grpo_config_needs_a_reward_and_each_rule_its_target():
    assert [r.code for r in validate(TrainConfig(method="grpo"))] == ["grpo_no_reward"]
    empty = TrainConfig(method="grpo", reward_format_weight=1.0)
    assert [(r.code, r.params["field"]) for r in validate(empty)] == [
        ("reward_rule_empty", "reward_format_regex")]
    bad = dataclasses.replace(empty, reward_format_regex="(")
    assert [r.code for r in validate(bad)] == ["reward_regex_bad"]


def test_reward_file_runs_only_when_the_operator_allows_code(tmp_path):
    code = tmp_path / "mine.py"
    code.write_text("def reward_short(completions, **kw):\n"
                    "    return [1.0 if len(c) < 10 else 0.0 for c in completions]\n"
                    "def helper():\n    return 1\n")
    cfg = TrainConfig(method="grpo", reward_file=str(code))
    assert [r.code for r in validate(cfg)] == ["reward_file_needs_flag"]
    with pytest.raises(ConfigError, match="--allow-code"):
        R.reward_functions(cfg)
    functions, weights = R.reward_functions(cfg, allow_code=True)
    assert [f.__name__ for f in functions] == ["reward_short"] and weights == [1.0]
    assert functions[0](completions=["short", "a much longer answer"]) == [1.0, 0.0]
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ConfigError, match="boom"):
        R.load_reward_file(str(tmp_path / "broken.py"), allow_code=True)
