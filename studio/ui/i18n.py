"""English and Chinese for every label, help text and message, from one translation table.

The table is merged from ``locales/*.yaml`` (one file per tab, so tabs are edited apart); each key
maps to ``{en: ..., zh: ...}``. English help for TrainConfig fields comes from the dataclass
itself (``field.<name>.help``) and English error messages from ``studio.engine.errors.MESSAGES``
(``error.<code>``), and English descriptions of the shipped presets from their files' leading
comments (``preset.<name>``), so each is written once. Engine errors are translated from their
codes and parameters (``Translator.error``), never from their English text. Components created
through a ``Translator`` are remembered, and switching the language updates all of them in place;
a bound text may carry facts to fill in (``(key, params)``), such as the header's device line.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from studio.engine.errors import MESSAGES, Reason, StudioError
from studio.engine.train.config import FIELDS, preset_header
from studio.engine.workspace import PRESETS

LANGS = {"en": "English", "zh": "中文"}
LOCALES = Path(__file__).with_name("locales")


def load_table() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    for path in sorted(LOCALES.glob("*.yaml")):
        for key, entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            if key in table:
                raise ValueError(f"translation key {key} is defined twice ({path.name})")
            table[key] = entry
    return table


class Translator:
    def __init__(self, table: dict | None = None):
        self.table = table if table is not None else load_table()
        self._bound: list[tuple[object, dict[str, str]]] = []

    def t(self, key: str, lang: str = "en", **fmt) -> str:
        """The text for ``key`` in ``lang`` (English when missing), formatted with ``fmt``."""
        entry = {**self._field_defaults(key), **self.table.get(key, {})}
        text = entry.get(lang) or entry.get("en") or key
        return text.format(**fmt) if fmt else text

    def reason(self, reason: Reason, lang: str = "en") -> str:
        """An engine ``Reason`` in ``lang``; reasons among its parameters are translated too."""
        params = {k: self.reason(v, lang) if isinstance(v, Reason) else v
                  for k, v in reason.params.items()}
        return self.t(f"error.{reason.code}", lang).format(**params)

    def error(self, exc: BaseException, lang: str = "en") -> str:
        """A user error in ``lang`` (every reason, joined); any other exception as its text."""
        if isinstance(exc, StudioError):
            return "; ".join(self.reason(r, lang) for r in exc.reasons)
        return str(exc)

    @staticmethod
    def _field_defaults(key: str) -> dict:
        """English for ``field.<name>.label|help`` straight from TrainConfig's metadata, for
        ``error.<code>`` from the engine's messages, for ``preset.<name>`` from the preset."""
        if key.startswith("preset."):
            preset = PRESETS / f"{key.removeprefix('preset.')}.yaml"
            return {"en": preset_header(preset)} if preset.is_file() else {}
        parts = key.split(".")
        if len(parts) == 2 and parts[0] == "error" and parts[1] in MESSAGES:
            return {"en": MESSAGES[parts[1]]}
        if len(parts) == 3 and parts[0] == "field" and parts[1] in FIELDS:
            meta = FIELDS[parts[1]].metadata
            en = meta["help"] if parts[2] == "help" else parts[1].replace("_", " ").capitalize()
            return {"en": en}
        return {}

    def __call__(self, factory, texts: dict | None = None, lang: str = "en", **kw):
        """Create ``factory(**kw)`` with ``texts`` (attribute -> key, or -> ``(key, params)``)
        translated; remember it."""
        texts = texts or {}
        component = factory(**{attr: self._text(spec, lang) for attr, spec in texts.items()}, **kw)
        self._bound.append((component, texts))
        return component

    def bind(self, component, **texts: str):
        self._bound.append((component, texts))
        return component

    @property
    def components(self) -> list:
        return [c for c, _ in self._bound]

    def updates(self, lang: str) -> list[dict]:
        import gradio as gr

        return [gr.update(**{attr: self._text(spec, lang) for attr, spec in texts.items()})
                for _, texts in self._bound]

    def _text(self, spec: str | tuple[str, dict], lang: str) -> str:
        """A bound text: a key, or ``(key, params)`` for a text with facts filled in."""
        key, params = (spec, {}) if isinstance(spec, str) else spec
        return self.t(key, lang, **params)


def said(render) -> dict[str, str]:
    """``render(lang)`` in every language: a message a handler wrote, kept (in a ``gr.State``)
    so that a language switch shows it again translated instead of leaving it in the old one."""
    return {lang: render(lang) for lang in LANGS}
