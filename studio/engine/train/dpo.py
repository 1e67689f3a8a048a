"""Preference optimization (DPO) with TRL's DPOTrainer, on the same run-folder contract as SFT.

Preference rows (TRL's prompt/chosen/rejected, LLaMA-Factory's conversations + chosen/rejected,
or the chat tab's blind votes) become TRL's conversational preference dataset. With LoRA the
reference model is the same weights with the adapter switched off, so DPO costs no second copy
of the model. TRL's config is derived from the one SFT uses (``args.to_dpo_args``), so both
methods share every setting.
"""

from __future__ import annotations

from studio.engine.data.template import render_inputs
from studio.engine.errors import DataError
from studio.engine.models import load_tokenizer
from studio.engine.runs import Run
from studio.engine.train.args import to_dpo_args
from studio.engine.train.callbacks import RunFolderCallback
from studio.engine.train.config import TrainConfig
from studio.engine.train.prepare import (
    load_training_records,
    lora_config,
    prepare_model,
    split_eval,
    to_dataset,
)


def preference_rows(cfg: TrainConfig, dataset_path: str,
                    tokenizer) -> tuple[list[dict], list[str]]:
    """TRL's conversational pairs. TRL renders them with the chat template itself and is given
    no tool schemas, so tools and reasoning take the template fallback (``render_inputs``)."""
    records, skipped = load_training_records(cfg, dataset_path)

    def plain(messages, tools=None):
        return render_inputs(tokenizer, messages, tools, native=False)[0]

    pairs = [{"prompt": plain(r["prompt"], r.get("tools")), "chosen": plain(r["chosen"]),
              "rejected": plain(r["rejected"])} for r in records if "chosen" in r]
    if not pairs:
        raise DataError("data_no_pairs", path=str(dataset_path))
    return pairs, skipped


def train_dpo(cfg: TrainConfig, run: Run, stop_event, dataset_path: str, resume_from):
    """DPO; returns (trainer, tokenizer), or None if stopped before the first step."""
    from transformers import PrinterCallback
    from trl import DPOTrainer

    tokenizer = load_tokenizer(cfg.model, cfg.trust_remote_code)
    pairs, skipped = preference_rows(cfg, dataset_path, tokenizer)
    train, held = split_eval(pairs, cfg.val_fraction, cfg.seed)
    run.log(f"data: {len(train)} preference pairs, {len(held)} held out, {len(skipped)} skipped")
    if stop_event.is_set():
        return None
    # With LoRA, TRL adds the adapter itself: handed an already wrapped model it would keep a
    # frozen copy of the adapter as the reference ("ref", saved into adapter/ref/); given the
    # config, the reference is the same weights with the adapter off.
    peft_config = lora_config(cfg) if cfg.finetuning_type in ("lora", "qlora") else None
    model = prepare_model(cfg, wrap_lora=peft_config is None)
    callback = RunFolderCallback(run, stop_event, tokenizer, cfg.probe_prompts, cfg.probe_steps,
                                 cfg.system_prompt)
    trainer = DPOTrainer(model=model, args=to_dpo_args(cfg, run, model, bool(held)),
                         train_dataset=to_dataset(train), eval_dataset=to_dataset(held),
                         processing_class=tokenizer, callbacks=[callback],
                         peft_config=peft_config)
    trainer.remove_callback(PrinterCallback)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    return trainer, tokenizer
