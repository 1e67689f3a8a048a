"""Preference optimization with TRL: DPO, KTO, ORPO and SimPO on the run-folder contract.

Preference rows (TRL's prompt/chosen/rejected, LLaMA-Factory's conversations + chosen/rejected,
or the chat tab's blind votes) become TRL's conversational preference dataset; KTO takes answers
labelled good or bad one by one (LLaMA-Factory's ``kto_tag``, or a pair split into its good and
its bad answer). DPO (sigmoid, IPO or hinge loss) and KTO hold the model near a reference: with
LoRA that is the same weights with the adapter off, or, for a run started from a finished one,
TRL's frozen copy of that run's adapter, so no second model is loaded. ORPO and SimPO (TRL's CPO
trainer with the simpo loss) need no reference at all. Each method's TRL config is derived from
the one SFT uses (``args.to_method_args``), so every method shares every setting.
"""

from __future__ import annotations

import random

from studio.engine.data.messages import split_last_answer
from studio.engine.data.template import render_inputs
from studio.engine.errors import DataError
from studio.engine.models import load_tokenizer
from studio.engine.runs import Run, RunStore
from studio.engine.train.args import preference_extra, to_method_args
from studio.engine.train.callbacks import RunFolderCallback
from studio.engine.train.config import TrainConfig
from studio.engine.train.prepare import (
    load_training_records,
    lora_config,
    prepare_model,
    split_eval,
    to_dataset,
)
from studio.engine.train.start import start_adapter


def trainer_classes(method: str):
    """(Trainer, Config) of TRL for a preference method; imported only when a job runs."""
    if method == "kto":
        from trl import KTOConfig, KTOTrainer

        return KTOTrainer, KTOConfig
    if method == "orpo":
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

        return ORPOTrainer, ORPOConfig
    if method == "simpo":
        from trl.experimental.cpo import CPOConfig, CPOTrainer

        return CPOTrainer, CPOConfig
    from trl import DPOConfig, DPOTrainer

    return DPOTrainer, DPOConfig


def kto_rows(records: list[dict], plain) -> list[dict]:
    """KTO's unpaired rows: each labelled answer, and each pair as a good and a bad answer."""
    rows = []
    for r in records:
        if "chosen" in r:
            prompt = plain(r["prompt"], r.get("tools"))
            rows.append({"prompt": prompt, "completion": plain(r["chosen"]), "label": True})
            rows.append({"prompt": prompt, "completion": plain(r["rejected"]), "label": False})
        elif "label" in r and (parts := split_last_answer(r["messages"]))[1]:
            rows.append({"prompt": plain(parts[0], r.get("tools")),
                         "completion": plain(parts[1]), "label": bool(r["label"])})
    return rows


def preference_rows(cfg: TrainConfig, dataset_path: str,
                    tokenizer) -> tuple[list[dict], list[str]]:
    """TRL's conversational rows for ``cfg.method``. TRL renders them with the chat template
    itself and is given no tool schemas, so tools and reasoning take the template fallback
    (``render_inputs``)."""
    records, skipped = load_training_records(cfg, dataset_path)

    def plain(messages, tools=None):
        return render_inputs(tokenizer, messages, tools, native=False)[0]

    if cfg.method == "kto":
        rows = kto_rows(records, plain)
        if not rows or len({r["label"] for r in rows}) < 2:
            raise DataError("data_no_kto_labels", path=str(dataset_path))
        random.Random(cfg.seed).shuffle(rows)  # KTO trains in a fixed order: not the file's
        return rows, skipped
    pairs = [{"prompt": plain(r["prompt"], r.get("tools")), "chosen": plain(r["chosen"]),
              "rejected": plain(r["rejected"])} for r in records if "chosen" in r]
    if not pairs:
        raise DataError("data_no_pairs", path=str(dataset_path))
    return pairs, skipped


def train_preference(cfg: TrainConfig, run: Run, stop_event, dataset_path: str, resume_from):
    """DPO, KTO, ORPO or SimPO; returns (trainer, tokenizer), or None if stopped before the
    first step."""
    from transformers import PrinterCallback

    trainer_class, config_class = trainer_classes(cfg.method)
    tokenizer = load_tokenizer(cfg.model, cfg.trust_remote_code)
    rows, skipped = preference_rows(cfg, dataset_path, tokenizer)
    train, held = split_eval(rows, cfg.val_fraction, cfg.seed)
    kind = "labelled answers" if cfg.method == "kto" else "preference pairs"
    run.log(f"data: {len(train)} {kind}, {len(held)} held out, {len(skipped)} skipped")
    if stop_event.is_set():
        return None
    start = start_adapter(cfg, RunStore(run.path.parent))
    if start is not None:
        run.log(f"starting from {cfg.start_from}'s adapter")
    # With a new LoRA adapter, TRL adds it itself: handed an already wrapped model it would keep
    # a frozen copy of the adapter as the reference; given the config, the reference is the same
    # weights with the adapter off. A started run's adapter is wrapped here, and its frozen copy
    # is then exactly the reference wanted.
    fresh_lora = start is None and cfg.finetuning_type in ("lora", "qlora")
    peft_config = lora_config(cfg) if fresh_lora else None
    model = prepare_model(cfg, wrap_lora=not fresh_lora, start=start)
    callback = RunFolderCallback(run, stop_event, tokenizer, cfg.probe_prompts, cfg.probe_steps,
                                 cfg.system_prompt)
    args = to_method_args(cfg, run, model, bool(held), config_class, **preference_extra(cfg))
    trainer = trainer_class(model=model, args=args, train_dataset=to_dataset(train),
                            eval_dataset=to_dataset(held), processing_class=tokenizer,
                            callbacks=[callback], peft_config=peft_config)
    trainer.remove_callback(PrinterCallback)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    return trainer, tokenizer
