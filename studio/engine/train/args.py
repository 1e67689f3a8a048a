"""TRL's configs from ours: the one place a TrainConfig becomes an SFTConfig, a DPOConfig...

Every TRL default the studio overrides is overridden in ``to_sft_args``; ``to_method_args`` takes
every TrainingArguments setting from it and adds only what a preference method or GRPO needs
(``preference_extra``, ``grpo.grpo_extra``), so all methods share the schedule, precision,
logging and checkpoint settings.
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


def to_method_args(cfg: TrainConfig, run: Run, model, has_eval: bool, config_class, **extra):
    """A TRL method's config (DPOConfig, KTOConfig, GRPOConfig...) with every
    TrainingArguments setting taken from the SFT translation, plus the method's own ``extra``."""
    from transformers import TrainingArguments

    sft_args = to_sft_args(cfg, run, model, has_eval)
    shared = {f.name: getattr(sft_args, f.name) for f in dataclasses.fields(TrainingArguments)
              if f.init and hasattr(sft_args, f.name)}
    accepted = {f.name for f in dataclasses.fields(config_class)}
    return config_class(**{**shared, **{k: v for k, v in extra.items() if k in accepted}})


def preference_extra(cfg: TrainConfig) -> dict:
    """What each preference method adds to the shared settings."""
    extra = {"beta": cfg.dpo_beta, "max_length": cfg.max_length}
    if cfg.method == "dpo" and cfg.dpo_sft_weight > 0:  # RPO: DPO plus NLL on the chosen
        extra.update(loss_type=[cfg.dpo_loss, "sft"], loss_weights=[1.0, cfg.dpo_sft_weight])
    elif cfg.method == "dpo":
        extra["loss_type"] = [cfg.dpo_loss]
    elif cfg.method == "kto":  # its KL term pairs each row with its batch neighbours: a fixed
        # order (the rows are shuffled once, by the seed, in preference.preference_rows)
        extra.update(desirable_weight=cfg.kto_desirable_weight,
                     undesirable_weight=cfg.kto_undesirable_weight,
                     train_sampling_strategy="sequential")
    elif cfg.method == "simpo":  # SimPO is CPO's simpo loss without its behaviour-cloning term
        extra.update(loss_type="simpo", cpo_alpha=0.0, simpo_gamma=cfg.simpo_gamma)
    return extra
