"""A rough estimate of a run before it starts: rows, steps, time and memory.

Rows and tokens are counted for real (the dataset is read and a sample of rows tokenized with the
model's own chat template). The model's size comes from its config, built on PyTorch's ``meta``
device so no weights are loaded. Time is measured where possible (the pace of the latest finished
run with the same model, method and batch shape) and otherwise guessed from FLOPs (6 x params x
tokens for full tuning, 4 x for LoRA) at a conservative effective speed per device. Memory is
weights + gradients and Adam state for the trainable weights + an activation heuristic. Every
number is shown as an estimate; none of this blocks a start.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from studio.engine.data.template import tokenize_record
from studio.engine.models import BUNDLED_ID, cache_root, load_tokenizer, resolve_model
from studio.engine.train.config import TrainConfig
from studio.engine.train.prepare import load_training_records, pick_dtype

TOKEN_SAMPLE = 200  # rows tokenized to measure lengths; the rest are assumed alike
# Effective training FLOP/s (well below peak: small matmuls, optimizer, python overhead).
# Calibrated on this project's identity demo (about 2 minutes on 2 CPU cores in bf16).
CPU_FLOPS_PER_CORE = {torch.bfloat16: 30e9, torch.float32: 12e9, torch.float16: 6e9}
GPU_FLOPS = 100e12
PROBE_TOKENS = 48  # new tokens per probe answer (callbacks.RunFolderCallback.answer)


@lru_cache(maxsize=4)
def _tokenizer(model: str, trust: bool):
    return load_tokenizer(model, trust)


@lru_cache(maxsize=8)
def model_shape(model: str, trust: bool = False) -> dict:
    """Parameter count, layers, hidden size and vocabulary, without loading any weights."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if model == BUNDLED_ID and not (cache_root() / "models" / BUNDLED_ID / "config.json").exists():
        # Converting the bundled GGUF takes ~30 s; its shape is public and fixed.
        return {"params": 134_515_008, "layers": 30, "hidden": 576, "vocab": 49152,
                "linear": {}, "heads": 9, "layer_params": [3_540_096] * 30}
    config = AutoConfig.from_pretrained(resolve_model(model), trust_remote_code=trust)
    with torch.device("meta"):
        net = AutoModelForCausalLM.from_config(config, trust_remote_code=trust)
    linear = {name: (m.in_features, m.out_features) for name, m in net.named_modules()
              if isinstance(m, torch.nn.Linear) and "lm_head" not in name}
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    layers = getattr(getattr(net, "model", None), "layers", None)  # what freeze trains
    return {"params": sum(p.numel() for p in net.parameters()),
            "layer_params": [sum(p.numel() for p in layer.parameters()) for layer in layers or []],
            "layers": getattr(text, "num_hidden_layers", 1),
            "hidden": getattr(text, "hidden_size", 1), "vocab": getattr(text, "vocab_size", 1),
            "heads": getattr(text, "num_attention_heads", 1), "linear": linear}


def trainable_params(cfg: TrainConfig, shape: dict) -> int:
    if cfg.finetuning_type == "full":
        return shape["params"]
    if cfg.finetuning_type == "freeze":  # the last n decoder layers, as prepare_model does
        n = min(cfg.freeze_trainable_layers, shape["layers"])
        if shape.get("layer_params"):
            return sum(shape["layer_params"][-n:])
        return shape["params"] * n // max(shape["layers"], 1)
    targets = [t.strip() for t in cfg.lora_target.split(",") if t.strip()]
    linear = shape["linear"] or {f"l{i}": (shape["hidden"], shape["hidden"])
                                 for i in range(7 * shape["layers"])}  # q,k,v,o,gate,up,down
    chosen = [io for name, io in linear.items()
              if "all-linear" in targets or name.split(".")[-1] in targets]
    return sum(cfg.lora_rank * (i + o) for i, o in chosen)


def token_lengths(cfg: TrainConfig, records: list[dict]) -> tuple[float, int]:
    """Mean and max tokens per row (capped at max_length) over a sample of rows."""
    tokenizer = _tokenizer(cfg.model, cfg.trust_remote_code)
    lengths = [min(len(tokenize_record(tokenizer, r, cfg.assistant_only_loss)["input_ids"]),
                   cfg.max_length) for r in records[:TOKEN_SAMPLE]]
    return sum(lengths) / len(lengths), max(lengths)


def total_steps(cfg: TrainConfig, rows: int) -> int:
    if cfg.max_steps:
        return cfg.max_steps
    train_rows = rows - (max(1, round(rows * cfg.val_fraction)) if cfg.val_fraction else 0)
    per_epoch = math.ceil(max(train_rows, 1) / cfg.batch_size / cfg.gradient_accumulation)
    return max(1, math.ceil(per_epoch * cfg.num_epochs))


def memory_bytes(cfg: TrainConfig, shape: dict, trainable: int, seq: int) -> float:
    dtype = pick_dtype(cfg)
    act_bytes = 2 if dtype in (torch.bfloat16, torch.float16) else 4
    weight_bytes = act_bytes if cfg.finetuning_type == "lora" else 4
    if cfg.finetuning_type == "qlora":
        weight_bytes = 0.55  # 4-bit weights plus quantization constants
    weights = shape["params"] * weight_bytes
    optimizer = trainable * 16  # fp32 weight + gradient + two Adam moments
    b, h, layers = cfg.batch_size, shape["hidden"], shape["layers"]
    checkpointing = cfg.gradient_checkpointing == "on"
    # Megatron's per-layer activation count (~34 values per token per hidden unit) plus
    # attention scores; checkpointing keeps only each layer's input.
    per_layer = b * seq * h * 34 + 5 * shape["heads"] * seq * seq * b
    acts = (layers * b * seq * h + per_layer if checkpointing else layers * per_layer)
    acts *= act_bytes / 2
    logits = b * seq * shape["vocab"] * 4 * 2  # fp32 logits and their gradient
    return weights + optimizer + acts + logits


def seconds_per_step(cfg: TrainConfig, shape: dict, trainable: int, tokens_step: float) -> float:
    k = 6 if cfg.finetuning_type == "full" else 4
    flops = (k * shape["params"] + 2 * trainable) * tokens_step
    if torch.cuda.is_available():
        return flops / GPU_FLOPS
    per_core = CPU_FLOPS_PER_CORE.get(pick_dtype(cfg), 12e9)
    return flops / (per_core * max(torch.get_num_threads(), 1))


def measured_pace(cfg: TrainConfig, store) -> tuple[float, str] | None:
    """Seconds per step of the newest finished run trained the same way, and its id."""
    if store is None:
        return None
    for run in store.list():
        status = run.status()
        if status.get("state") not in ("completed", "stopped") or not status.get("step"):
            continue
        try:
            old = run.config()
        except Exception:
            continue
        same = ("model", "finetuning_type", "batch_size", "gradient_accumulation", "max_length",
                "dtype", "method")
        if all(getattr(old, k) == getattr(cfg, k) for k in same) and status.get("elapsed_s"):
            return status["elapsed_s"] / status["step"], run.id
    return None


def estimate(cfg: TrainConfig, dataset_path: str, store=None) -> dict:
    """Everything the Train tab shows before Start; raises the engine's user errors."""
    records, skipped = load_training_records(cfg, dataset_path)
    mean_len, max_len = token_lengths(cfg, records)
    shape = model_shape(cfg.model, cfg.trust_remote_code)
    trainable = trainable_params(cfg, shape)
    steps = total_steps(cfg, len(records))
    batch_rows = cfg.batch_size * cfg.gradient_accumulation
    pace = measured_pace(cfg, store)
    probe_rounds = (steps // cfg.probe_steps if cfg.probe_steps else 0) + 2
    probe_s = probe_rounds * len(cfg.probe_prompts) * PROBE_TOKENS * (
        0.002 if torch.cuda.is_available() else 0.02)
    if pace:
        step_s, basis = pace
    else:
        # Rows in a batch are padded to the longest, so pay for somewhat more than the mean.
        tokens_step = batch_rows * min((mean_len + max_len) / 2, cfg.max_length)
        step_s, basis = seconds_per_step(cfg, shape, trainable, tokens_step), ""
    seq = min(max_len, cfg.max_length)
    return {"rows": len(records), "skipped": len(skipped), "mean_tokens": round(mean_len),
            "steps": steps, "params": shape["params"], "trainable": trainable,
            "seconds": steps * step_s + (0 if pace else probe_s), "measured_from": basis,
            "memory_gb": memory_bytes(cfg, shape, trainable, seq) / 1e9}
