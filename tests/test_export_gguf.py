"""A model exported to GGUF loads back and answers as before (the Modelfile: test_export_modelfile).

The bundled SmolLM2 is written as f16 and q8_0 once for the module and read back by transformers'
own GGUF loader (a reader written apart from gguf-py's writer): the greedy answer, the tokenizer's
ids and chat template must survive. The tiny in-process Llama checks the exact f32 round trip of
the q/k permutation, the low-bit layout and the refusals in a second or two.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType, GGUFReader

from studio.engine.errors import ExportError
from studio.engine.export import gguf as gguf_export
from studio.engine.export.gguf import GGUF_QUANTS, write_gguf
from studio.engine.models import BUNDLED_GGUF, BUNDLED_PACKAGE

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
MIXED = "Fine-tuning 让模型学会新的风格, and it works offline! 你好，世界 123 4567"
CONVERSATION = [
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "Who are you?"},
    {"role": "assistant", "content": "I am a small assistant.\nHow can I help?"},
    {"role": "user", "content": "你叫什么名字？"},
]


def greedy(model, tokenizer, messages=QUESTION, new_tokens=20) -> list[int]:
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False)
    return out[0, inputs["input_ids"].shape[1]:].tolist()


def logits(model, tokenizer, messages=QUESTION) -> torch.Tensor:
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    with torch.no_grad():
        return model(**inputs).logits[0]


def tensor_types(path) -> dict[str, GGMLQuantizationType]:
    return {t.name: t.tensor_type for t in GGUFReader(path).tensors}


@pytest.fixture(scope="module", autouse=True)
def name_map_built_once():
    """transformers' GGUF loader rebuilds llama.cpp's tensor-name map for every module of the
    model (~400 times, some 7 s a load here); it depends on (arch, layers) alone, so cache it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gguf, "get_tensor_name_map", functools.lru_cache(gguf.get_tensor_name_map))
        yield


# --- the bundled model, written once


@pytest.fixture(scope="module")
def bundled():
    """The bundled folder, its tokenizer, and its own greedy answer and logits to QUESTION."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.engine.models import resolve_model

    folder = resolve_model("smollm2-135m-instruct")
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return folder, tokenizer, greedy(model, tokenizer), logits(model, tokenizer)


@pytest.fixture(scope="module")
def exported(bundled, tmp_path_factory):
    """The bundled model as f16 and q8_0 GGUF files in one folder, and the config both share."""
    from transformers import AutoConfig

    folder = tmp_path_factory.mktemp("gguf")
    for quant in ("f16", "q8_0"):
        write_gguf(bundled[0], folder / f"model-{quant}.gguf", quant)
    # Read from the file once: each GGUF load in transformers otherwise parses it again.
    config = AutoConfig.from_pretrained(folder, gguf_file="model-f16.gguf")
    return folder, config


@pytest.fixture(scope="module")
def f16_reader(exported):
    return GGUFReader(exported[0] / "model-f16.gguf")


def load_gguf(exported, quant):
    from transformers import AutoModelForCausalLM

    folder, config = exported
    return AutoModelForCausalLM.from_pretrained(folder, gguf_file=f"model-{quant}.gguf",
                                                config=config, dtype=torch.float32).eval()


@pytest.mark.integration
def test_f16_gguf_answers_like_the_safetensors_model(bundled, exported, f16_reader):
    _, tokenizer, answer, want = bundled
    _, config = exported
    assert config.num_hidden_layers == 30 and config.num_key_value_heads == 3
    assert config.tie_word_embeddings
    model = load_gguf(exported, "f16")
    assert greedy(model, tokenizer) == answer
    assert tokenizer.decode(answer).startswith("The capital of France is Paris")
    # f16 rounding alone: a wrong q/k permutation or norm would move logits by whole units.
    assert (logits(model, tokenizer) - want).abs().max() < 0.1
    types = {t.name: t.tensor_type for t in f16_reader.tensors}
    assert types["blk.0.attn_q.weight"] == GGMLQuantizationType.F16
    assert types["blk.0.attn_norm.weight"] == GGMLQuantizationType.F32
    assert "output.weight" not in types  # tied: llama.cpp reuses token_embd


@pytest.mark.integration
def test_gguf_tokenizer_keeps_the_ids_and_the_chat_template(bundled, exported, f16_reader):
    from transformers import AutoTokenizer

    tokenizer = bundled[1]
    folder, _ = exported
    restored = AutoTokenizer.from_pretrained(folder, gguf_file="model-f16.gguf")
    assert restored.encode(MIXED) == tokenizer.encode(MIXED)
    assert restored.chat_template == tokenizer.chat_template
    assert restored.apply_chat_template(CONVERSATION, tokenize=False) == \
        tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert (restored.bos_token, restored.eos_token) == ("<|im_start|>", "<|im_end|>")
    fields = f16_reader.fields
    assert fields["tokenizer.ggml.pre"].contents() == "smollm"  # what llama.cpp itself writes
    assert fields["tokenizer.ggml.model"].contents() == "gpt2"


@pytest.mark.integration
def test_q8_0_is_half_the_size_and_close_to_the_original(bundled, exported):
    _, tokenizer, answer, want = bundled
    folder, _ = exported
    f16 = (folder / "model-f16.gguf").stat().st_size
    q8 = (folder / "model-q8_0.gguf").stat().st_size
    assert 0.5 < q8 / f16 < 0.56  # 34 bytes per 32 weights, against 64
    model = load_gguf(exported, "q8_0")
    got = logits(model, tokenizer)
    # Measured: q8_0 moves logits by 0.2 on average (1.3 at most) and f16 by 0.006, while q4_0
    # drifts by 3.6 and a wrong tensor layout by far more, so these bounds tell them apart.
    assert (got - want).abs().max() < 2.0
    assert (got - want).abs().mean() < 0.4
    assert (got.argmax(-1) == want.argmax(-1)).float().mean() > 0.9
    assert greedy(model, tokenizer) == answer  # holds for this question


@pytest.mark.integration
def test_q4_1_gives_back_the_llama_cpp_file_the_bundled_model_came_from(bundled, tmp_path):
    """The bundled folder is llama.cpp's own Q4_1 file dequantized, so quantizing it back must
    give the very same blocks, tensor names, hyper-parameters and vocabulary."""
    package = importlib.util.find_spec(BUNDLED_PACKAGE).submodule_search_locations[0]
    original = GGUFReader(Path(package) / BUNDLED_GGUF)
    ours = GGUFReader(write_gguf(bundled[0], tmp_path / "q4_1.gguf", "q4_1"))
    theirs = {t.name: t for t in original.tensors}
    assert sorted(t.name for t in ours.tensors) == sorted(theirs)
    for tensor in ours.tensors:
        assert tensor.tensor_type == theirs[tensor.name].tensor_type, tensor.name
        # asarray: comparing the readers' memmaps directly is a hundred times slower
        assert np.array_equal(np.asarray(tensor.data), np.asarray(theirs[tensor.name].data)), \
            tensor.name
    # add_space_prefix is false by default for a BPE vocabulary in llama.cpp, so it is not written.
    keys = [k for k in original.fields if k.startswith(("llama.", "tokenizer."))
            and k != "tokenizer.ggml.add_space_prefix"]
    assert len(keys) > 15
    for key in keys:
        assert ours.fields[key].contents() == original.fields[key].contents(), key


# --- the tiny in-process Llama


def test_tiny_llama_round_trips_exactly_in_f32(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["num_key_value_heads"] < config["num_attention_heads"]  # k permuted per kv head
    path = write_gguf(tiny_model_dir, tmp_path / "tiny.gguf", "f32")
    assert path == tmp_path / "tiny.gguf" and os.listdir(tmp_path) == ["tiny.gguf"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    restored = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf",
                                                    dtype=torch.float32)
    torch.testing.assert_close(logits(restored, tokenizer), logits(reference, tokenizer),
                               atol=1e-5, rtol=1e-5)
    fields = GGUFReader(path).fields
    # A vocabulary no llama.cpp hash knows is named by its tokenizer.json's splitting.
    assert fields["tokenizer.ggml.pre"].contents() == "gpt-2"
    assert fields["tokenizer.chat_template"].contents() == tokenizer.chat_template


def tiny_variant(tiny_model_dir, folder, arch: str):
    """The tiny model's tokenizer on a 2-layer Qwen2 (tied, with the q/k/v biases it always has)
    or Mistral (untied, so with its own output head)."""
    from transformers import (
        AutoTokenizer,
        MistralConfig,
        MistralForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    config_class, model_class = {"qwen2": (Qwen2Config, Qwen2ForCausalLM),
                                 "mistral": (MistralConfig, MistralForCausalLM)}[arch]
    config = config_class(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                          max_position_embeddings=512, tie_word_embeddings=arch == "qwen2")
    torch.manual_seed(0)
    model = model_class(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(".bias"):
                param.normal_(0, 0.5)  # zero biases would pass whatever became of them
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer


@pytest.mark.parametrize("arch", ["qwen2", "mistral"])
def test_tiny_qwen2_and_mistral_round_trip_exactly(tiny_model_dir, tmp_path, arch):
    from transformers import AutoModelForCausalLM

    model, tokenizer = tiny_variant(tiny_model_dir, tmp_path / arch, arch)
    write_gguf(tmp_path / arch, tmp_path / "tiny.gguf", "f32")
    restored = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf",
                                                    dtype=torch.float32)
    torch.testing.assert_close(logits(restored, tokenizer), logits(model, tokenizer),
                               atol=1e-5, rtol=1e-5)
    types = tensor_types(tmp_path / "tiny.gguf")
    if arch == "qwen2":
        assert types["blk.0.attn_q.bias"] == GGMLQuantizationType.F32
    else:
        assert "output.weight" in types
    assert GGUFReader(tmp_path / "tiny.gguf").fields["general.architecture"].contents() == \
        {"qwen2": "qwen2", "mistral": "llama"}[arch]  # llama.cpp runs Mistral as llama


def test_low_bit_keeps_norms_in_f32_and_the_output_head_at_8_bits(tiny_model_dir, tmp_path):
    q4 = write_gguf(tiny_model_dir, tmp_path / "tiny-q4_0.gguf", "q4_0")
    types = tensor_types(q4)
    assert types["blk.1.ffn_down.weight"] == GGMLQuantizationType.Q4_0
    assert types["token_embd.weight"] == GGMLQuantizationType.Q8_0  # tied: it is the output
    assert {types[n] for n in types if n.endswith("norm.weight")} == {GGMLQuantizationType.F32}
    assert GGUFReader(q4).fields["general.file_type"].contents() == 2  # MOSTLY_Q4_0
    f16 = write_gguf(tiny_model_dir, tmp_path / "tiny-f16.gguf")
    assert q4.stat().st_size < f16.stat().st_size


def test_every_listed_quant_writes_a_readable_file(tiny_model_dir, tmp_path):
    for quant in GGUF_QUANTS:
        path = write_gguf(tiny_model_dir, tmp_path / f"{quant}.gguf", quant)
        reader = GGUFReader(path)
        assert len(reader.tensors) == 2 + 2 * 9  # embedding, final norm, 9 per layer


# --- refusals


def test_refusals_name_what_to_change(tiny_model_dir, tmp_path):
    with pytest.raises(ExportError) as err:
        write_gguf(tiny_model_dir, tmp_path / "a.gguf", "q3_k")
    assert err.value.reason.code == "gguf_quant" and "q8_0" in str(err.value)
    taken = tmp_path / "taken.gguf"
    taken.write_bytes(b"mine")
    with pytest.raises(ExportError) as err:
        write_gguf(tiny_model_dir, taken)
    assert err.value.reason.code == "gguf_exists" and taken.read_bytes() == b"mine"
    with pytest.raises(ExportError) as err:
        write_gguf(tmp_path, tmp_path / "b.gguf")
    assert err.value.reason.code == "gguf_not_model"


def copy_with(tiny_model_dir, tmp_path, file: str, change) -> str:
    folder = tmp_path / "changed"
    shutil.copytree(tiny_model_dir, folder)
    spec = json.loads((folder / file).read_text())
    change(spec)
    (folder / file).write_text(json.dumps(spec))
    return folder


def test_unsupported_architecture_is_refused(tiny_model_dir, tmp_path):
    folder = copy_with(tiny_model_dir, tmp_path, "config.json",
                       lambda c: c.update(architectures=["GPT2LMHeadModel"]))
    with pytest.raises(ExportError) as err:
        write_gguf(folder, tmp_path / "out.gguf")
    assert err.value.reason.code == "gguf_arch"
    assert err.value.reason.params["arch"] == "GPT2LMHeadModel"
    assert "Qwen2ForCausalLM" in err.value.reason.params["supported"]


def test_non_byte_level_tokenizer_is_refused(tiny_model_dir, tmp_path):
    folder = copy_with(tiny_model_dir, tmp_path, "tokenizer.json",
                       lambda t: t["model"].update(type="WordPiece"))
    with pytest.raises(ExportError) as err:
        write_gguf(folder, tmp_path / "out.gguf")
    assert err.value.reason.code == "gguf_tokenizer"


def test_missing_output_head_of_an_untied_model_is_refused(tiny_model_dir, tmp_path):
    folder = copy_with(tiny_model_dir, tmp_path, "config.json",
                       lambda c: c.update(tie_word_embeddings=False))
    with pytest.raises(ExportError) as err:
        write_gguf(folder, tmp_path / "out.gguf")
    assert err.value.reason.code == "gguf_tensor_missing"
    assert err.value.reason.params["tensor"] == "output.weight"


def test_a_failed_write_leaves_no_file(tiny_model_dir, tmp_path, monkeypatch):
    written = []

    def failing(data, qtype):
        written.append(qtype)
        if len(written) == 5:
            raise OSError("disk full")
        return quantize(data, qtype)

    quantize = gguf_export.gguf.quants.quantize
    monkeypatch.setattr(gguf_export.gguf.quants, "quantize", failing)
    with pytest.raises(OSError, match="disk full"):
        write_gguf(tiny_model_dir, tmp_path / "out.gguf")
    assert os.listdir(tmp_path) == []


def test_quant_list_has_a_meaning_for_each_name():
    assert {"f16", "q8_0", "q4_0", "bf16"} <= set(GGUF_QUANTS)
    assert all(isinstance(text, str) and text for text in GGUF_QUANTS.values())
