"""The Ollama Modelfile: its Go template re-renders the chat template exactly, or is refused.

The role pieces are cut from the model's own Jinja template; rendering a conversation from
them must give exactly what ``apply_chat_template`` gives, for the bundled SmolLM2 and the tiny
in-process model, and templates that cannot be cut that way are refused with a code.
"""

from __future__ import annotations

import pytest

from studio.engine.errors import ExportError
from studio.engine.export.modelfile import RoleWrappers, derive_wrappers, write_modelfile

CONVERSATION = [
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "Who are you?"},
    {"role": "assistant", "content": "I am a small assistant.\nHow can I help?"},
    {"role": "user", "content": "你叫什么名字？"},
]


@pytest.mark.integration
def test_modelfile_for_the_bundled_model(tmp_path):
    from transformers import AutoTokenizer

    from studio.engine.models import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("smollm2-135m-instruct"))
    wrappers = derive_wrappers(tokenizer)
    assert wrappers.user == ("<|im_start|>user\n", "<|im_end|>\n")
    assert wrappers.default_system.startswith("You are a helpful AI assistant named SmolLM")
    for messages in (CONVERSATION, CONVERSATION[1:], CONVERSATION[:3], CONVERSATION[1:2]):
        for generation in (False, True):
            assert wrappers.render(messages, generation) == tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=generation)
    path = write_modelfile(tmp_path, "model-q8_0.gguf", tokenizer, system="Answer briefly.",
                           sampling={"temperature": 0.2, "repetition_penalty": 1.1})
    text = path.read_text()
    lines = text.splitlines()
    assert path == tmp_path / "Modelfile"
    assert "FROM ./model-q8_0.gguf" in lines
    assert 'SYSTEM """Answer briefly."""' in lines
    assert {"PARAMETER temperature 0.2", "PARAMETER top_p 0.9", "PARAMETER repeat_penalty 1.1",
            'PARAMETER stop "<|im_end|>"'} <= set(lines)
    template = text.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    assert template == wrappers.go_template(bos_added=False)
    assert '{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}' in template
    assert "{{ range $i, $_ := .Messages }}" in template


def test_modelfile_falls_back_to_the_templates_own_system_prompt(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = write_modelfile(tmp_path, "tiny.gguf", tokenizer).read_text()
    assert 'SYSTEM """You are a helpful assistant."""' in text.splitlines()
    assert "PARAMETER temperature 0.7" in text


def test_role_wrappers_render_without_a_default_system():
    plain = RoleWrappers(start="<s>", system=("[S]", "\n"), user=("[U]", "\n"),
                         assistant=("[A]", "</s>"), generation="[A]", default_system=None)
    assert plain.render(CONVERSATION[1:3], add_generation_prompt=True) == \
        "<s>[U]Who are you?\n[A]I am a small assistant.\nHow can I help?</s>[A]"
    assert plain.go_template(bos_added=True).startswith("{{ if .System }}[S]")
    assert plain.stops() == ["</s>", "[U]"]


def test_templates_that_cannot_be_cut_are_refused(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    # Mistral's way: the system prompt is folded into the last user turn.
    tokenizer.chat_template = (
        "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}"
        "{% set messages = messages[1:] %}{% endif %}{% for m in messages %}"
        "{% if m['role'] == 'user' %}[INST] {% if loop.last and system is defined %}"
        "{{ system }}\n\n{% endif %}{{ m['content'] }}[/INST]{% else %} {{ m['content'] }}</s>"
        "{% endif %}{% endfor %}")
    with pytest.raises(ExportError) as err:
        write_modelfile(tmp_path, "m.gguf", tokenizer)
    assert err.value.reason.code == "modelfile_template_split"
    tokenizer.chat_template = ("{% if messages[0]['role'] == 'system' %}"
                               "{{ raise_exception('System role not supported') }}{% endif %}")
    with pytest.raises(ExportError) as err:
        derive_wrappers(tokenizer)
    assert err.value.reason.code == "modelfile_template_render"
    assert "System role not supported" in str(err.value)
    tokenizer.chat_template = None
    with pytest.raises(ExportError) as err:
        derive_wrappers(tokenizer)
    assert err.value.reason.code == "modelfile_no_template"
    assert not (tmp_path / "Modelfile").exists()


def test_unknown_sampling_setting_is_refused(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    with pytest.raises(ExportError) as err:
        write_modelfile(tmp_path, "m.gguf", tokenizer, sampling={"warmth": 1})
    assert err.value.reason.code == "modelfile_sampling"
