"""Write a Hugging Face model folder as one GGUF file for llama.cpp, Ollama and LM Studio.

The file is written with gguf-py (the ``gguf`` package), llama.cpp's own library for the format:
its ``GGUFWriter``, tensor-name map, metadata keys, ``SpecialVocab`` and quantizers. llama.cpp's
converter, ``convert_hf_to_gguf.py``, ships in no maintained pip package, so this module does
what it does for the decoder families the studio trains (Llama, Mistral, Qwen2): the same
hyper-parameter keys, tensor names, Llama's q/k row permutation (Hugging Face rotates halves,
llama.cpp rotates pairs), norms and biases kept in f32, and a byte-level BPE vocabulary with
token types, merges, special ids, chat template and the ``tokenizer.ggml.pre`` name llama.cpp
picks its pre-tokenizer by (``gguf_vocab``). Tensors are read one at a time from the
memory-mapped safetensors and written straight after the header, so memory stays near one
tensor rather than one model; the file is built under a temporary name beside the target and
renamed only once complete.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import LlamaFileType as F

from studio.engine.errors import ExportError
from studio.engine.export.gguf_vocab import add_vocab

# name -> what it means for the user, smallest loss first.
GGUF_QUANTS = {
    "f32": "32-bit floats: exact copy of the weights, the largest file",
    "f16": "16-bit floats: as good as the original at half the size of f32",
    "bf16": "bfloat16: 16 bits with the range of f32, for models trained in bf16",
    "q8_0": "8-bit: practically lossless, about half the size of f16",
    "q5_1": "5-bit with offset: small quality loss, about a third of f16",
    "q5_0": "5-bit: small quality loss, slightly smaller than q5_1",
    "q4_1": "4-bit with offset: noticeable loss on small models, about a quarter of f16",
    "q4_0": "4-bit: the smallest file, the most quality lost",
}
# name -> (the tensor type of the big matrices, the file type llama.cpp reports)
_QUANT_TYPES = {
    "f32": (Q.F32, F.ALL_F32), "f16": (Q.F16, F.MOSTLY_F16), "bf16": (Q.BF16, F.MOSTLY_BF16),
    "q8_0": (Q.Q8_0, F.MOSTLY_Q8_0), "q5_1": (Q.Q5_1, F.MOSTLY_Q5_1),
    "q5_0": (Q.Q5_0, F.MOSTLY_Q5_0), "q4_1": (Q.Q4_1, F.MOSTLY_Q4_1),
    "q4_0": (Q.Q4_0, F.MOSTLY_Q4_0),
}
# Below 8 bits the output head (the most sensitive matrix) stays at q8_0, as llama.cpp's own
# quantizer gives it more bits than the rest (it picks q6_K, which gguf-py cannot write).
_LOW_BIT = {Q.Q5_1, Q.Q5_0, Q.Q4_1, Q.Q4_0}


@dataclass(frozen=True)
class _Arch:
    arch: gguf.MODEL_ARCH
    permute_qk: bool  # Llama-style rotary halves that llama.cpp wants as interleaved pairs
    qkv_bias: bool  # the q/k/v projections carry biases llama.cpp requires


ARCHITECTURES = {
    "LlamaForCausalLM": _Arch(gguf.MODEL_ARCH.LLAMA, permute_qk=True, qkv_bias=False),
    "MistralForCausalLM": _Arch(gguf.MODEL_ARCH.LLAMA, permute_qk=True, qkv_bias=False),
    "Qwen2ForCausalLM": _Arch(gguf.MODEL_ARCH.QWEN2, permute_qk=False, qkv_bias=True),
}
_ROPE_TYPES = ("default", "linear", "llama3", "yarn")
_LAYER_WEIGHTS = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                  "ffn_gate", "ffn_up", "ffn_down")



@dataclass(frozen=True)
class _Planned:
    """One tensor of the file: its GGUF name, its shape and type, and how to read it."""

    name: str
    shape: tuple[int, ...]
    qtype: Q
    load: Callable[[], np.ndarray]


def write_gguf(model_dir: str | Path, out_file: str | Path, quant: str = "f16") -> Path:
    """Write the model in ``model_dir`` as the GGUF file ``out_file`` (which must not exist)."""
    model_dir, out_file = Path(model_dir), Path(out_file)
    if quant not in GGUF_QUANTS:
        raise ExportError("gguf_quant", quant=quant, choices=", ".join(GGUF_QUANTS))
    if out_file.exists():
        raise ExportError("gguf_exists", path=str(out_file))
    config = _read_config(model_dir)
    spec = _architecture(config)
    qtype, ftype = _QUANT_TYPES[quant]
    files = sorted(model_dir.glob("model*.safetensors"))
    if not files:
        raise ExportError("gguf_no_weights", path=str(model_dir))
    with ExitStack() as stack:
        plan = _plan_tensors(stack, files, config, spec, qtype)
        writer = gguf.GGUFWriter(None, gguf.MODEL_ARCH_NAMES[spec.arch])
        _add_metadata(writer, model_dir, plan)
        _add_hyperparameters(writer, config, spec, ftype)
        add_vocab(writer, model_dir, config["vocab_size"])
        for t in plan:
            shape, dtype, nbytes = _stored_shape(t.shape, t.qtype)
            writer.add_tensor_info(t.name, shape, dtype, nbytes, raw_dtype=t.qtype)
        out_file.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(writer, plan, out_file)
    return out_file


# --- the model's configuration


def _read_config(model_dir: Path) -> dict:
    try:
        return json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError("gguf_not_model", path=str(model_dir)) from None


def _architecture(config: dict) -> _Arch:
    arch = (config.get("architectures") or ["(none)"])[0]
    if arch not in ARCHITECTURES:
        raise ExportError("gguf_arch", arch=arch, supported=", ".join(ARCHITECTURES))
    return ARCHITECTURES[arch]


def _rope(config: dict) -> dict:
    """The RoPE settings, from transformers 5's ``rope_parameters`` or the older keys."""
    rope = dict(config.get("rope_parameters") or config.get("rope_scaling") or {})
    rope.setdefault("rope_theta", config.get("rope_theta", 10000.0))
    rope["rope_type"] = rope.get("rope_type", rope.get("type")) or "default"
    if rope["rope_type"] not in _ROPE_TYPES:
        raise ExportError("gguf_rope", rope=rope["rope_type"], supported=", ".join(_ROPE_TYPES))
    return rope


def _head_dim(config: dict) -> int:
    return config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]


def _add_hyperparameters(writer: gguf.GGUFWriter, config: dict, spec: _Arch,
                         ftype: F) -> None:
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config.get("num_key_value_heads", config["num_attention_heads"]))
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(config["vocab_size"])
    if config.get("head_dim"):
        writer.add_key_length(config["head_dim"])
        writer.add_value_length(config["head_dim"])
    if spec.arch == gguf.MODEL_ARCH.LLAMA:
        writer.add_rope_dimension_count(_head_dim(config))
    rope = _rope(config)
    writer.add_rope_freq_base(rope["rope_theta"])
    if rope["rope_type"] == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(rope["factor"])
    elif rope["rope_type"] == "yarn":
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(rope["factor"])
        writer.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
    writer.add_file_type(ftype)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _add_metadata(writer: gguf.GGUFWriter, model_dir: Path, plan: list[_Planned]) -> None:
    """general.name, size label and the like, read from the folder as llama.cpp does."""
    params = sum(math.prod(t.shape) for t in plan)
    meta = gguf.Metadata.load(None, model_dir, None, params)
    meta.name = meta.name or model_dir.name
    writer.add_type(gguf.GGUFType.MODEL)
    meta.set_gguf_meta_model(writer)


# --- tensors


def _plan_tensors(stack: ExitStack, files: list[Path], config: dict, spec: _Arch,
                  qtype: Q) -> list[_Planned]:
    """Every tensor to write, in order, with its GGUF name and type (nothing is read yet)."""
    from safetensors import safe_open

    names = gguf.get_tensor_name_map(spec.arch, config["num_hidden_layers"])
    tied = bool(config.get("tie_word_embeddings"))
    plan = list(_extra_tensors(config))
    for file in files:
        handle = stack.enter_context(safe_open(str(file), framework="pt"))
        sources = handle.keys()  # a safe_open handle is not itself iterable
        for source in sources:
            if source.endswith(".rotary_emb.inv_freq") or (tied and source == "lm_head.weight"):
                continue  # recomputed by llama.cpp / the same matrix as the embedding
            name = names.get_name(source, try_suffixes=(".weight", ".bias"))
            if name is None:
                raise ExportError("gguf_tensor_unknown", tensor=source, path=str(file))
            shape = tuple(handle.get_slice(source).get_shape())
            plan.append(_Planned(name, shape, _tensor_type(name, shape, qtype, tied),
                                 _loader(handle, source, config, spec)))
    _check_complete({t.name for t in plan}, config, spec, tied)
    return plan


def _extra_tensors(config: dict) -> Iterator[_Planned]:
    """Llama 3's frequency-dependent RoPE scaling, which llama.cpp reads as a tensor."""
    rope = _rope(config)
    if rope["rope_type"] != "llama3":
        return
    factors = _llama3_rope_factors(rope, _head_dim(config))
    yield _Planned(gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", factors.shape,
                   Q.F32, lambda: factors)


def _llama3_rope_factors(rope: dict, dim: int) -> np.ndarray:
    freqs = 1.0 / (rope["rope_theta"] ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old_ctx = rope["original_max_position_embeddings"]
    wavelen = 2 * math.pi / freqs
    smooth = (old_ctx / wavelen - low) / (high - low)
    factors = np.where(wavelen < old_ctx / high, 1.0,
                       np.where(wavelen > old_ctx / low, factor,
                                1 / ((1 - smooth) / factor + smooth)))
    return factors.astype(np.float32)


def _tensor_type(name: str, shape: tuple[int, ...], qtype: Q, tied: bool) -> Q:
    # llama.cpp reads 1-D tensors (norms, biases) as f32 only.
    if len(shape) <= 1 or name.endswith("_norm.weight"):
        return Q.F32
    output = name == "output.weight" or (tied and name == "token_embd.weight")
    if output and qtype in _LOW_BIT:
        qtype = Q.Q8_0
    block, _ = gguf.GGML_QUANT_SIZES[qtype]
    # A row that does not split into whole blocks cannot be quantized: f16, as llama.cpp does.
    return qtype if shape[-1] % block == 0 else Q.F16


def _loader(handle, source: str, config: dict, spec: _Arch) -> Callable[[], np.ndarray]:
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    rows = {"q_proj": heads, "k_proj": kv_heads} if spec.permute_qk else {}
    permute_heads = next((n for part, n in rows.items() if f".{part}." in source), None)

    def load() -> np.ndarray:
        data = handle.get_tensor(source).float()
        if permute_heads is not None:
            data = _permute(data, permute_heads)
        return data.numpy()

    return load


def _permute(weights, n_head: int):
    """Hugging Face's rotate-half rows to llama.cpp's interleaved pairs, head by head."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _check_complete(names: set[str], config: dict, spec: _Arch, tied: bool) -> None:
    wanted = ["token_embd.weight", "output_norm.weight"] + ([] if tied else ["output.weight"])
    for layer in range(config["num_hidden_layers"]):
        wanted += [f"blk.{layer}.{part}.weight" for part in _LAYER_WEIGHTS]
        if spec.qkv_bias:
            wanted += [f"blk.{layer}.attn_{p}.bias" for p in "qkv"]
    missing = [name for name in wanted if name not in names]
    if missing:
        raise ExportError("gguf_tensor_missing", tensor=missing[0], count=len(missing))


def _stored_shape(shape: tuple[int, ...], qtype: Q) -> tuple[tuple[int, ...], np.dtype, int]:
    """The shape, dtype and byte count of the array ``gguf.quants.quantize`` returns."""
    if qtype in (Q.F32, Q.F16):
        dtype = np.dtype(np.float32 if qtype == Q.F32 else np.float16)
        return shape, dtype, math.prod(shape) * dtype.itemsize
    stored = gguf.quant_shape_to_byte_shape(shape, qtype)
    return stored, np.dtype(np.uint8), math.prod(stored)


def _write_atomically(writer: gguf.GGUFWriter, plan: list[_Planned], out_file: Path) -> None:
    tmp = out_file.with_name(f"{out_file.name}.{os.getpid()}.tmp")
    try:
        writer.write_header_to_file(tmp)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for t in plan:  # one tensor in memory at a time, in the order the header lists them
            writer.write_tensor_data(gguf.quants.quantize(t.load(), t.qtype))
        writer.close()
        os.replace(tmp, out_file)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
