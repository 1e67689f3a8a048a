"""TRL's configs from ours: the one place a TrainConfig becomes an SFTConfig or a DPOConfig.

Every TRL default the studio overrides is overridden in ``to_sft_args``; ``to_dpo_args`` takes
every TrainingArguments setting from it and adds only what preference optimization needs, so both
methods share the schedule, precision, logging and checkpoint settings.
"""

from __future__ import annotations

import dataclasses

import torch

from studio.engine.runs import Run
from studio.engine.train.config import TrainConfig, uses_packing
from studio.engine.train.prepare import pick_dtype, use_gradient_checkpointing


def to_sft_args(cfg: TrainConfig, run: Run, model, has_eval: bool):
    """TRL's SFTConfig from ours; every TRL default we override is overridden here."""
    from trl import SFTConfig

    dtype = pick_dtype(cfg)
    eval_strategy = "no"
    if has_eval:
        eval_strategy = "steps" if cfg.eval_steps else "epoch"
    return SFTConfig(
        output_dir=str(run.checkpoints_dir),
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.num_epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,  # transformers 5 reads a float < 1 as a ratio
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
        gradient_checkpointing=use_gradient_checkpointing(cfg, model),
        max_length=cfg.max_length,
        packing=uses_packing(cfg),
        # pt keeps every token: a text longer than max_length is split across packed rows
        # (TRL's bfd_split); for conversations the overflow is cut, as without packing.
        packing_strategy="bfd_split" if cfg.method == "pt" else "bfd",
        assistant_only_loss=False,  # our own masks (studio.engine.data.template) already apply it
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        eval_strategy=eval_strategy,
        eval_steps=cfg.eval_steps or None,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2,
        report_to=[] if cfg.report_to == "none" else [cfg.report_to],
        dataloader_num_workers=0,
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        dataset_num_proc=None,
        # LoRA and full tuning use every trainable parameter in each forward: DDP's search for
        # unused ones would only cost an extra pass over the graph per step.
        ddp_find_unused_parameters=False,
    )


def to_dpo_args(cfg: TrainConfig, run: Run, model, has_eval: bool):
    """DPOConfig with every TrainingArguments setting taken from the SFT translation."""
    from transformers import TrainingArguments
    from trl import DPOConfig

    sft_args = to_sft_args(cfg, run, model, has_eval)
    shared = {f.name: getattr(sft_args, f.name) for f in dataclasses.fields(TrainingArguments)
              if f.init and hasattr(sft_args, f.name)}
    return DPOConfig(**shared, beta=cfg.dpo_beta, max_length=cfg.max_length)
