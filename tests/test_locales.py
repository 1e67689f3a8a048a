"""The English and Chinese translation tables agree: every key exists in both languages and both
fill the same ``{placeholders}``.

English comes from ``studio/ui/locales/*.yaml`` or, for keys that leave it out on purpose, from
where the translator takes it instead (``field.<name>.help`` from ``TrainConfig``'s own help, and
``error.<code>`` from the engine's messages); ``Translator.t(key, "en")`` is asked for it, so
this test follows the translator's rules instead of copying them. A Chinese text that names a
placeholder the English one lacks raises ``KeyError`` in the page; one that drops a placeholder
loses information. Each test lists every offending key at once.
"""

from __future__ import annotations

import re
import string

import pytest

from studio.ui.i18n import Translator, load_table


@pytest.fixture(scope="module")
def table() -> dict:
    return load_table()


@pytest.fixture(scope="module")
def tr(table) -> Translator:
    return Translator(table)


def english(tr: Translator, key: str) -> str | None:
    text = tr.t(key, "en")  # the key itself comes back when no English exists anywhere
    return None if text == key else text


def placeholders(text: str) -> set[str]:
    """The names ``str.format`` fills in ``text`` (``{{`` and ``}}`` are literal braces)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_entry_is_a_mapping_of_languages(table):
    bad = {k: v for k, v in table.items()
           if not isinstance(v, dict) or not set(v) <= {"en", "zh"} or not v
           or not all(isinstance(text, str) and text.strip() for text in v.values())}
    assert bad == {}


def test_every_chinese_text_has_an_english_one(table, tr):
    assert [k for k, v in table.items() if "zh" in v and english(tr, k) is None] == []


def test_every_english_text_has_a_chinese_one(table, tr):
    assert [k for k, v in table.items() if english(tr, k) and not v.get("zh")] == []


def test_every_config_field_and_engine_error_is_translated(table):
    from studio.engine.errors import MESSAGES
    from studio.engine.train.config import FIELDS

    keys = [f"field.{name}.{part}" for name in FIELDS for part in ("label", "help")]
    keys += [f"error.{code}" for code in MESSAGES]
    assert [k for k in keys if not table.get(k, {}).get("zh")] == []


def test_placeholders_agree_in_both_languages(table, tr):
    mismatched = {}
    for key, entry in table.items():
        en, zh = english(tr, key), entry.get("zh")
        if not en or not zh:
            continue  # reported by the tests above
        try:
            ours, theirs = placeholders(en), placeholders(zh)
        except ValueError as exc:  # an unbalanced brace: str.format would raise in the page
            mismatched[key] = str(exc)
            continue
        if ours != theirs:
            mismatched[key] = f"en {sorted(ours)} != zh {sorted(theirs)}"
    assert mismatched == {}


def test_the_placeholder_check_catches_a_mismatch():
    assert placeholders("Loaded {n} rows from {source}") == {"n", "source"}
    assert placeholders("填入 {{name}}") == set()  # literal braces are not placeholders
    table = {"demo.key": {"en": "Loaded {n} rows", "zh": "已载入 {count} 行"}}
    tr = Translator(table)
    assert placeholders(english(tr, "demo.key")) != placeholders(table["demo.key"]["zh"])
    assert english(tr, "demo.missing") is None


def test_every_shipped_preset_is_described_in_both_languages(tr):
    from studio.engine.train.config import preset_header
    from studio.engine.workspace import PRESETS

    for path in sorted(PRESETS.glob("*.yaml")):
        english_text, chinese = (tr.t(f"preset.{path.stem}", lang) for lang in ("en", "zh"))
        assert english_text == preset_header(path)  # written once, in the preset itself
        assert re.search(r"[\u4e00-\u9fff]", chinese) and chinese != english_text, path.name
