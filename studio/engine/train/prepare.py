"""Everything a training run needs before its first step: the dtype, the model and the data.

``pick_dtype`` turns the config's ``auto`` into bf16 where the CPU or GPU computes it natively.
``prepare_model`` loads the base model and makes the right weights trainable (LoRA, QLoRA, full,
freeze). ``prepare_sft_data`` reads the dataset, fills its placeholders, skips rows a person
would reject, and tokenizes each row with the assistant-only mask shown in the Data tab (through
an on-disk cache, so re-running the same data skips the work). Gradient checkpointing is turned on
only when the activations of a full batch would not fit comfortably in the memory that is free.
"""

from __future__ import annotations

import importlib.util
import random
from dataclasses import dataclass

import torch

from studio.engine.data.formats import fill_placeholders, load_records, with_system_prompt
from studio.engine.data.token_cache import tokenize_records
from studio.engine.data.validate import validate
from studio.engine.errors import ConfigError, DataError, Reason
from studio.engine.models import load_model, torch_dtype
from studio.engine.train.config import TrainConfig

# Checkpointing recomputes the forward pass (TRL turns it on by default, ~25-35% slower per step
# here), so auto uses it only when a full batch's activations would take more than this share of
# the memory that is free; the rest is left for weights, gradients, optimizer state and logits.
CHECKPOINTING_MEMORY_SHARE = 0.5


def pick_dtype(cfg: TrainConfig) -> torch.dtype:
    return torch_dtype(cfg.dtype)


def use_gradient_checkpointing(cfg: TrainConfig, model) -> bool:
    if cfg.gradient_checkpointing != "auto":
        return cfg.gradient_checkpointing == "on"
    return activation_bytes(cfg, model) > CHECKPOINTING_MEMORY_SHARE * free_memory_bytes()


def activation_bytes(cfg: TrainConfig, model) -> int:
    """A generous estimate of what one batch of max_length rows keeps for the backward pass."""
    config = getattr(model, "config", None)
    hidden = getattr(config, "hidden_size", None)
    layers = getattr(config, "num_hidden_layers", None)
    if not hidden or not layers:  # unknown shape: fall back to the size of the model
        return 4 * sum(p.numel() for p in model.parameters())
    inner = getattr(config, "intermediate_size", None) or 4 * hidden
    # A decoder layer saves about 10 hidden-sized and 4 MLP-sized tensors per token; 4 bytes
    # each covers the fp32 copies autocast keeps next to the bf16 ones.
    per_token = layers * (10 * hidden + 4 * inner) * 4
    return cfg.batch_size * cfg.max_length * per_token


def free_memory_bytes() -> int:
    if torch.cuda.is_available():
        return torch.cuda.mem_get_info()[0]
    try:
        import psutil

        return psutil.virtual_memory().available
    except ImportError:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def prepare_model(cfg: TrainConfig, wrap_lora: bool = True, start=None):
    """The model with exactly the weights this finetuning type trains left trainable.

    ``wrap_lora=False`` returns a LoRA run's base model unwrapped, for a trainer that adds the
    adapter itself from ``lora_config(cfg)`` (TRL's preference trainers then use the same
    weights with the adapter off as their reference model). ``start`` is the folder of a
    finished run's adapter (``start.start_adapter``) to keep training instead of a new one.
    """
    dtype = pick_dtype(cfg)
    kwargs = {}
    if cfg.finetuning_type == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
            bnb_4bit_use_double_quant=True)
    # LoRA keeps the frozen base in the compute dtype (half the memory); full and freeze keep
    # fp32 master weights and let autocast do the bf16 math.
    load_dtype = dtype if cfg.finetuning_type in ("lora", "qlora") else torch.float32
    model = load_model(cfg.model, dtype=load_dtype, trust_remote_code=cfg.trust_remote_code,
                       **kwargs)
    model.config.use_cache = False
    _apply_gpu_kernels(model)
    if start is not None:  # safetensors only, as every adapter the studio loads
        from studio.engine.chat.adapters import attach_adapter

        return attach_adapter(_for_kbit(cfg, model), start, cfg.start_from, is_trainable=True)
    if cfg.finetuning_type in ("lora", "qlora"):
        return _with_lora(cfg, model) if wrap_lora else _for_kbit(cfg, model)
    if cfg.finetuning_type == "freeze":
        _freeze_all_but_last(model, cfg.freeze_trainable_layers)
    return model


def _apply_gpu_kernels(model) -> None:
    """Liger's fused RMSNorm / SwiGLU / RoPE kernels on CUDA when the package is installed.

    Its fused cross-entropy is left off: the studio trainer already scores only trained tokens.
    """
    if not torch.cuda.is_available() or importlib.util.find_spec("liger_kernel") is None:
        return
    try:
        from liger_kernel.transformers import _apply_liger_kernel_to_instance

        _apply_liger_kernel_to_instance(model=model, cross_entropy=False,
                                        fused_linear_cross_entropy=False)
    except Exception:  # optional speed-up: an unsupported architecture trains without it
        pass


def lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    target = cfg.lora_target.strip()
    targets = target if target == "all-linear" else [t.strip() for t in target.split(",")]
    return LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")


def _for_kbit(cfg: TrainConfig, model):
    if cfg.finetuning_type != "qlora":
        return model
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)


def _with_lora(cfg: TrainConfig, model):
    from peft import get_peft_model

    return get_peft_model(_for_kbit(cfg, model), lora_config(cfg))


def _freeze_all_but_last(model, n: int) -> None:
    layers = model.model.layers if hasattr(model, "model") else None
    if layers is None:
        raise ConfigError("freeze_needs_layers", field="finetuning_type")
    for p in model.parameters():
        p.requires_grad = False
    for layer in list(layers)[-n:]:
        for p in layer.parameters():
            p.requires_grad = True


@dataclass
class PreparedData:
    train: list[dict]
    eval: list[dict]
    skipped: list[str]  # one line per skipped row, for the run log
    records: list[dict]


def load_training_records(cfg: TrainConfig, dataset_path: str) -> tuple[list[dict], list[str]]:
    """Normalized records ready to tokenize, and a note for each row that was left out.

    Continued pre-training (pt) learns every token of plain text; conversations or preference
    pairs under pt are refused here, before any model is loaded.
    """
    records, fmt = load_records(dataset_path, split=cfg.dataset_split,
                                text_split=cfg.text_split)
    if cfg.method == "pt" and any("text" not in r for r in records):
        raise DataError("pt_needs_text", path=str(dataset_path), fmt=fmt)
    records = fill_placeholders(records, {"name": cfg.name, "author": cfg.author})
    records = with_system_prompt(records, cfg.system_prompt)
    # GRPO samples its own answers: a row that is only a question is what it wants.
    bad = {p.row: str(p) for p in validate(records)
           if not (cfg.method == "grpo" and p.code == "problem_no_answer")}
    skipped = list(bad.values())
    kept = []
    for i, rec in enumerate(records, 1):
        if i in bad:
            continue
        if rec.get("label") is False and cfg.method in ("sft", "pt"):
            # KTO rows marked undesirable must not be imitated (KTO learns from them)
            skipped.append(f"row {i}: {Reason('problem_undesirable')}")
            continue
        kept.append(rec)
    if cfg.max_samples:
        kept = kept[: cfg.max_samples]
    if not kept:
        raise DataError("data_no_rows_usable", path=str(dataset_path), skipped=len(skipped),
                        first=skipped[0] if skipped else "none")
    return kept, skipped


def split_eval(records: list[dict], fraction: float, seed: int) -> tuple[list, list]:
    if fraction <= 0 or len(records) < 2:
        return records, []
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n_eval = max(1, round(len(records) * fraction))
    held = set(order[:n_eval])
    return ([r for i, r in enumerate(records) if i not in held],
            [r for i, r in enumerate(records) if i in held])


def prepare_sft_data(cfg: TrainConfig, tokenizer, dataset_path: str) -> PreparedData:
    records, skipped = load_training_records(cfg, dataset_path)
    if any("chosen" in r for r in records):
        raise DataError("data_is_preference", path=str(dataset_path))
    rows = tokenize_records(tokenizer, records, cfg.assistant_only_loss and cfg.method != "pt")
    # A row whose prompt alone fills max_length keeps no answer token once cut: TRL would drop
    # it without a word (and fail on an empty dataset), so it is skipped here, and said.
    usable = [i for i, r in enumerate(rows) if any(r["assistant_masks"][:cfg.max_length])]
    if len(usable) < len(rows):
        lost = Reason("data_truncated_rows", {"n": len(rows) - len(usable),
                                              "max_length": cfg.max_length})
        if not usable:
            raise DataError("data_all_truncated", path=str(dataset_path), reason=lost)
        skipped.append(str(lost))
    # Split positions, not records: the same rows are held out as before, and all rows share
    # one cache entry whatever val_fraction is.
    train, held = split_eval(usable, cfg.val_fraction, cfg.seed)
    return PreparedData([rows[i] for i in train], [rows[i] for i in held], skipped, records)


def to_dataset(rows: list[dict]):
    """Rows as a ``datasets.Dataset`` for TRL's trainers (None for no rows: no eval set)."""
    from datasets import Dataset

    return Dataset.from_list(rows) if rows else None
