"""GRPO's reward rules: what a user picks and weights in the form instead of writing code.

Each rule scores one answer in [0, 1]: the answer format (a regular expression), a target length
in words, words it must or must not contain, the share of Chinese characters, and the exact final
answer against the row's own answer (numbers normalised). ``reward_functions`` turns a config
into the list TRL's ``GRPOTrainer`` calls with its ``reward_weights``; each function is named
after its rule, so the run's metrics (``rewards/<rule>/mean``) and charts say which rule moved.
A user's own ``reward_*`` functions in a Python file are loaded only when the operator allowed
code (``--allow-code``): loading the file runs it.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from studio.engine.errors import ConfigError
from studio.engine.train.config import TrainConfig

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def text_of(completion) -> str:
    """A completion's text: TRL passes strings for plain prompts and message lists for chats."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


# ------------------------------------------------------------------------------- the rules
def format_score(text: str, pattern: str) -> float:
    return 1.0 if re.fullmatch(pattern, text.strip(), flags=re.DOTALL) else 0.0


def length_score(text: str, target_words: int) -> float:
    """1 up to the target, then falling linearly to 0 at twice the target. Chinese has no
    spaces, so each Chinese character counts as a word."""
    words = len(_CJK.findall(text)) + len(_CJK.sub(" ", text).split())
    if words <= target_words:
        return 1.0
    return max(0.0, 1.0 - (words - target_words) / max(target_words, 1))


def words_score(text: str, include: list[str], exclude: list[str]) -> float:
    """The share of the listed words the answer gets right (contains, or avoids)."""
    low = text.lower()
    right = [w.lower() in low for w in include] + [w.lower() not in low for w in exclude]
    return sum(right) / len(right) if right else 0.0


def chinese_share(text: str) -> float:
    letters = _LETTER.findall(text)
    return sum(1 for ch in letters if _CJK.match(ch)) / len(letters) if letters else 0.0


def language_score(text: str, target_share: float) -> float:
    return 1.0 - abs(chinese_share(text) - target_share)


def normalise_answer(text: str) -> str:
    """The answer's last number (1,000 and 1000.0 both as 1000), else its last non-empty line,
    lower-cased, without surrounding punctuation."""
    numbers = _NUMBER.findall(text or "")
    if numbers:
        value = float(numbers[-1].replace(",", ""))
        return str(int(value)) if value.is_integer() else repr(value)
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return lines[-1].strip(" .!?。！？\"'").lower() if lines else ""


def exact_score(text: str, reference: str) -> float:
    return 1.0 if reference and normalise_answer(text) == normalise_answer(reference) else 0.0


def split_words(value: str) -> list[str]:
    return [w.strip() for w in re.split(r"[,，]", value or "") if w.strip()]


# ------------------------------------------------------------------------------- for TRL
def _rule(name: str, score):
    """A TRL reward function (batch in, list of floats out) named after its rule."""
    def reward(prompts=None, completions=None, answer=None, **_):
        refs = answer or [""] * len(completions)
        return [score(text_of(c), r) for c, r in zip(completions, refs)]

    reward.__name__ = name
    return reward


def reward_functions(cfg: TrainConfig, allow_code: bool = False) -> tuple[list, list[float]]:
    """The reward functions a GRPO run uses and their weights, in the same order."""
    rules = []
    if cfg.reward_format_weight > 0:
        rules.append((_rule("format", lambda t, _: format_score(t, cfg.reward_format_regex)),
                      cfg.reward_format_weight))
    if cfg.reward_length_weight > 0:
        rules.append((_rule("length", lambda t, _: length_score(t, cfg.reward_length_words)),
                      cfg.reward_length_weight))
    if cfg.reward_words_weight > 0:
        include, exclude = split_words(cfg.reward_include), split_words(cfg.reward_exclude)
        rules.append((_rule("words", lambda t, _: words_score(t, include, exclude)),
                      cfg.reward_words_weight))
    if cfg.reward_chinese_weight > 0:
        rules.append((_rule("language",
                            lambda t, _: language_score(t, cfg.reward_chinese_share)),
                      cfg.reward_chinese_weight))
    if cfg.reward_exact_weight > 0:
        rules.append((_rule("exact_answer", exact_score), cfg.reward_exact_weight))
    if cfg.reward_file.strip():
        rules.extend((f, 1.0) for f in load_reward_file(cfg.reward_file, allow_code))
    return [f for f, _ in rules], [w for _, w in rules]


def load_reward_file(path: str, allow_code: bool) -> list:
    """The ``reward_*`` functions of a user's Python file; refused unless code is allowed."""
    if not allow_code:
        raise ConfigError("reward_file_needs_flag", field="reward_file")
    file = Path(path)
    if not file.is_file() or file.suffix != ".py":
        raise ConfigError("reward_file_missing", field="reward_file", path=path)
    spec = importlib.util.spec_from_file_location(f"studio_rewards_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError("reward_file_broken", field="reward_file", path=path,
                          detail=f"{type(exc).__name__}: {exc}") from None
    functions = [getattr(module, n) for n in sorted(dir(module))
                 if n.startswith("reward_") and callable(getattr(module, n))]
    if not functions:
        raise ConfigError("reward_file_empty", field="reward_file", path=path)
    return functions
