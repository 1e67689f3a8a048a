"""Write an Ollama Modelfile beside an exported GGUF, with a chat template Ollama can run.

Ollama does not run the Jinja chat template a Hugging Face tokenizer carries: its ``TEMPLATE``
is a Go template. Rather than translate Jinja, the tokenizer's own template renders a probe
conversation whose messages are sentinel strings, and the text around each sentinel gives every
role's prefix and suffix, the generation prompt and any system prompt the template adds by
itself (``RoleWrappers``). The pieces must re-render the probe and a few other conversations
exactly as Jinja does before they are written as a ``{{ range .Messages }}`` Go template; a
template that cannot be cut that way (one that folds the system prompt into the first user turn,
say) is refused rather than approximated. The end-of-turn markers become ``stop`` parameters
and the sampling settings ``PARAMETER`` lines, so ``ollama create NAME -f Modelfile`` is all a
user has to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from studio.engine.errors import ExportError
from studio.engine.io import write_atomic

# Distinct, whitespace-free and plain ASCII, so no template trims, escapes or confuses them.
_SYSTEM, _USER_1, _ASSISTANT_1, _USER_2 = (f"STUDIO-PROBE-{role}-7f3a9c" for role in
                                           ("SYSTEM", "USER-1", "ASSISTANT-1", "USER-2"))
# sampling key (Ollama's names, or the studio's Sampling fields) -> Modelfile PARAMETER
_PARAMETERS = {
    "temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
    "repeat_penalty": "repeat_penalty", "repetition_penalty": "repeat_penalty",
    "max_new_tokens": "num_predict", "seed": "seed",
}
_DEFAULT_SAMPLING = {"temperature": 0.7, "top_p": 0.9}


@dataclass(frozen=True)
class RoleWrappers:
    """A chat template cut into the text it writes around each message.

    ``start`` is what comes before everything (a BOS the template writes itself); each role is a
    ``(prefix, suffix)`` pair; ``generation`` is what ``add_generation_prompt`` appends; and
    ``default_system`` is the system prompt written when the conversation has none (``None``:
    no system block at all then).
    """

    start: str
    system: tuple[str, str]
    user: tuple[str, str]
    assistant: tuple[str, str]
    generation: str
    default_system: str | None

    def render(self, messages: list[dict], add_generation_prompt: bool = False) -> str:
        """The conversation as the Jinja template writes it, from the pieces alone."""
        system = self.default_system
        if messages and messages[0]["role"] == "system":
            system, messages = messages[0]["content"], messages[1:]
        parts = [self.start]
        if system is not None:
            parts += [self.system[0], system, self.system[1]]
        wrap = {"user": self.user, "assistant": self.assistant}  # a later system turn: KeyError
        for message in messages:
            prefix, suffix = wrap[message["role"]]
            parts += [prefix, message["content"], suffix]
        if add_generation_prompt:
            parts.append(self.generation)
        return "".join(parts)

    def go_template(self, bos_added: bool) -> str:
        """The same layout as an Ollama Go template.

        ``bos_added``: the tokenizer (so the GGUF, so llama.cpp) adds the BOS token by itself,
        and a ``start`` holding it is left out rather than sent twice. As Ollama's own templates
        do, the generation prompt follows a last user message, a last assistant message is left
        open to be continued, and system messages come in through ``.System`` alone.
        """
        up, us = map(_literal, self.user)
        ap, as_ = map(_literal, self.assistant)
        sp, ss = map(_literal, self.system)
        system = f"{sp}{{{{ .System }}}}{ss}"
        if self.default_system != "":  # "" means the template writes the block every time
            system = f"{{{{ if .System }}}}{system}{{{{ end }}}}"
        return ("" if bos_added else _literal(self.start)) + system + (
            "{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}"
            f'{{{{ if eq .Role "user" }}}}{up}{{{{ .Content }}}}{us}'
            f"{{{{ if $last }}}}{_literal(self.generation)}{{{{ end }}}}"
            f'{{{{ else if eq .Role "assistant" }}}}{ap}{{{{ .Content }}}}'
            f"{{{{ if not $last }}}}{as_}{{{{ end }}}}{{{{ end }}}}{{{{ end }}}}"
        )

    def stops(self) -> list[str]:
        """Where an answer ends: the end-of-turn marker, and the next user turn's opening."""
        marks = [self.assistant[1].strip(), self.user[0].strip()]
        return [m for i, m in enumerate(marks) if m and m not in marks[:i]]


def derive_wrappers(tokenizer) -> RoleWrappers:
    """Cut ``tokenizer``'s chat template into ``RoleWrappers`` (ExportError if it won't cut)."""
    if not getattr(tokenizer, "chat_template", None):
        raise ExportError("modelfile_no_template")
    probe = _conversation(_SYSTEM, _USER_1, _ASSISTANT_1, _USER_2)
    full = _render(tokenizer, probe)
    head, sys_to_user, user_to_assistant, assistant_to_user, user_suffix = _cut(full, probe)
    assistant_suffix = _cut(_render(tokenizer, probe[:3]), probe[:3])[-1]
    assistant_prefix = _after(user_to_assistant, user_suffix)
    user_prefix = _after(assistant_to_user, assistant_suffix)
    system_suffix = _before(sys_to_user, user_prefix)
    # A BOS the template writes once, before everything; not one that opens every turn (ChatML
    # models often name <|im_start|> their BOS).
    bos = getattr(tokenizer, "bos_token", None) or ""
    start = bos if bos and head.startswith(bos) and not user_prefix.startswith(bos) else ""
    wrappers = RoleWrappers(
        start=start, system=(head[len(start):], system_suffix),
        user=(user_prefix, user_suffix), assistant=(assistant_prefix, assistant_suffix),
        generation=_after(_render(tokenizer, probe, generation=True), full),
        default_system=None)
    wrappers = _with_default_system(wrappers, tokenizer)
    _check(wrappers, tokenizer)
    return wrappers


def write_modelfile(folder: str | Path, gguf_name: str, tokenizer, system: str = "",
                    sampling: Mapping | None = None) -> Path:
    """Write ``folder/Modelfile`` for ``ollama create NAME -f Modelfile`` (replacing one there).

    ``system`` is the system prompt (empty: the template's own default, if it has one);
    ``sampling`` holds Ollama parameter names or the studio's ``Sampling`` fields, over the
    defaults temperature 0.7 and top_p 0.9.
    """
    wrappers = derive_wrappers(tokenizer)
    system = system or wrappers.default_system or ""
    template = wrappers.go_template(bos_added=_adds_bos(tokenizer))
    lines = ["# Made by Fine-Tune Studio. Import with: ollama create NAME -f Modelfile",
             f"FROM ./{gguf_name}", f'TEMPLATE """{_triple_quoted(template, "TEMPLATE")}"""']
    if system:
        lines.append(f'SYSTEM """{_triple_quoted(system, "SYSTEM")}"""')
    lines += [f"PARAMETER {name} {value}" for name, value in _parameters(sampling)]
    lines += [f'PARAMETER stop "{stop}"' for stop in wrappers.stops()]
    path = Path(folder) / "Modelfile"
    write_atomic(path, "\n".join(lines) + "\n")
    return path


# --- deriving the pieces


def _conversation(*contents: str) -> list[dict]:
    roles = ["system"] + ["user", "assistant"] * len(contents)
    return [{"role": role, "content": text} for role, text in zip(roles, contents)]


def _render(tokenizer, messages: list[dict], generation: bool = False) -> str:
    from jinja2 import TemplateError

    try:
        return tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=generation)
    except TemplateError as exc:  # the template's own raise_exception, or a Jinja error
        raise ExportError("modelfile_template_render", detail=str(exc)) from exc


def _cut(text: str, messages: list[dict]) -> list[str]:
    """The text before, between and after the messages' contents, which must each appear once."""
    pieces, rest = [], text
    for message in messages:
        if text.count(message["content"]) != 1 or message["content"] not in rest:
            raise ExportError("modelfile_template_split")
        before, rest = rest.split(message["content"])
        pieces.append(before)
    return pieces + [rest]


def _after(text: str, prefix: str) -> str:
    if not text.startswith(prefix):
        raise ExportError("modelfile_template_split")
    return text[len(prefix):]


def _before(text: str, suffix: str) -> str:
    if not text.endswith(suffix):
        raise ExportError("modelfile_template_split")
    return text[:len(text) - len(suffix)]


def _with_default_system(wrappers: RoleWrappers, tokenizer) -> RoleWrappers:
    """The system prompt the template writes for a conversation without one, if any."""
    alone = _render(tokenizer, _conversation(_SYSTEM, _USER_1)[1:])
    if alone == wrappers.render(_conversation(_SYSTEM, _USER_1)[1:]):
        return wrappers
    user = "".join((wrappers.user[0], _USER_1, wrappers.user[1]))
    opening = wrappers.start + wrappers.system[0]
    default = _before(_after(alone, opening), wrappers.system[1] + user)
    return RoleWrappers(wrappers.start, wrappers.system, wrappers.user, wrappers.assistant,
                        wrappers.generation, default)


def _check(wrappers: RoleWrappers, tokenizer) -> None:
    """The pieces must give Jinja's text for conversations with and without a system prompt."""
    with_system = _conversation(_SYSTEM, _USER_1, _ASSISTANT_1, _USER_2)
    for messages in (with_system, with_system[1:], with_system[:2], with_system[1:2]):
        for generation in (False, True):
            if wrappers.render(messages, generation) != _render(tokenizer, messages, generation):
                raise ExportError("modelfile_template_split")


# --- writing the Modelfile


def _literal(text: str) -> str:
    """``text`` as literal Go template text: only ``{{`` would open an action."""
    return text.replace("{{", '{{ "{{" }}')


def _triple_quoted(text: str, field: str) -> str:
    if '"""' in text:
        raise ExportError("modelfile_quotes", field=field)
    return text


def _adds_bos(tokenizer) -> bool:
    """Whether encoding plain text adds a BOS (so llama.cpp, reading the GGUF, adds it too)."""
    return tokenizer.encode("a")[:1] != tokenizer.encode("a", add_special_tokens=False)[:1]


def _parameters(sampling: Mapping | None) -> list[tuple[str, object]]:
    merged = {**_DEFAULT_SAMPLING, **(sampling or {})}
    unknown = [key for key in merged if key not in _PARAMETERS]
    if unknown:
        raise ExportError("modelfile_sampling", key=unknown[0], known=", ".join(_PARAMETERS))
    return [(_PARAMETERS[key], value) for key, value in merged.items()]
