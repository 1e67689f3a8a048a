"""User errors are codes with parameters: every code raised has English and Chinese text with
the same placeholders, and the UI translates codes (nested ones included), never English."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from studio.engine.errors import MESSAGES, ConfigError, DataError, Reason
from studio.ui.i18n import Translator

ROOT = Path(__file__).resolve().parents[1]
TR = Translator()


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def codes_raised() -> dict[str, str]:
    """code -> where: every ``SomethingError("code", ...)`` and ``Reason("code", ...)`` call."""
    found = {}
    for path in (ROOT / "studio").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            first = node.args[0]
            if (name.endswith("Error") or name in ("Reason", "Problem")) and \
                    isinstance(first, ast.Constant) and isinstance(first.value, str):
                found[first.value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def test_every_code_raised_has_an_english_message():
    missing = {code: where for code, where in codes_raised().items() if code not in MESSAGES}
    assert missing == {}


def test_the_scan_sees_the_codes():
    raised = codes_raised()
    assert {"field_range", "data_json", "busy_training", "chat_no_pick"} <= set(raised)


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_code_has_chinese_with_the_same_placeholders(code):
    zh = TR.table.get(f"error.{code}", {}).get("zh")
    assert zh, f"error.{code} has no zh text in studio/ui/locales"
    assert placeholders(zh) == placeholders(MESSAGES[code])


def test_english_comes_from_the_engine_and_chinese_from_the_locales():
    tr = TR
    exc = ConfigError("field_range", field="batch_size", op=">=", bound=1, got=0)
    assert str(exc) == "batch_size must be >= 1, got 0"
    assert tr.error(exc, "en") == str(exc)
    assert tr.error(exc, "zh") == "batch_size 必须 >= 1，当前为 0"


def test_a_nested_reason_is_translated_too():
    tr = TR
    inner = Reason("row_turn_role", {"field": "conversations", "turn": 2, "role": "robot"})
    exc = DataError("data_row", path="chat.json", row=7, reason=inner)
    assert str(exc) == "chat.json: row 7: field 'conversations' turn 2: unknown role 'robot'"
    assert tr.error(exc, "zh") == "chat.json：第 7 行：字段“conversations”第 2 轮：未知角色“robot”"


def test_the_ui_parses_no_english():
    """No module of the UI uses regular expressions (the old way of turning engine English
    into translation keys)."""
    users = [p.relative_to(ROOT) for p in (ROOT / "studio" / "ui").rglob("*.py")
             if any(isinstance(n, (ast.Import, ast.ImportFrom)) and
                    "re" in [a.name for a in n.names] + [getattr(n, "module", None)]
                    for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))))]
    assert users == []
