"""The studio's SFT trainer: TRL's SFTTrainer with a loss step that wastes less work.

``StudioSFTTrainer`` keeps everything of TRL's trainer (data preparation, collation, logging,
checkpoints, resume) and replaces only ``compute_loss``: each batch is split into groups of rows of
similar length (``speed.length_buckets``) so short rows are not padded to the longest, and only
the positions whose label is trained go through the language-model head
(``speed.selected_cross_entropy``). The loss is the same sum over the same tokens divided by the
same count as TRL's, so runs learn the same thing, only sooner. Models this shortcut does not fit
(heads with bias, soft-capped or scaled logits, multimodal wrappers), multi-process runs and
packed batches (TRL flattens them padding-free: position ids, no attention mask) fall back to
TRL's own loss. ``build_sft_trainer`` is the one place the engine and the benchmark
construct it; ``train_sft`` is the SFT method the job runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from trl import SFTTrainer

from studio.engine.models import load_tokenizer
from studio.engine.runs import Run
from studio.engine.train import speed
from studio.engine.train.args import to_sft_args
from studio.engine.train.callbacks import RunFolderCallback
from studio.engine.train.config import TrainConfig
from studio.engine.train.prepare import pick_dtype, prepare_model, prepare_sft_data, to_dataset


@dataclass
class SpeedOptions:
    """Switches for each optimization, so the benchmark can measure what each one is worth."""

    bucketing: bool = True
    selected_loss: bool = True


def _parts(model):
    """(backbone, lm_head) of a causal LM, through a PEFT wrapper; None if it has no such shape."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = getattr(base, getattr(base, "base_model_prefix", ""), None)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    config = getattr(base, "config", None)
    scaled = any(getattr(config, k, None) not in (None, 1.0) for k in (
        "final_logit_softcapping", "logit_scale", "logits_scaling", "lm_head_multiplier",
        "output_multiplier"))
    if backbone is None or head is None or getattr(head, "bias", None) is not None or scaled:
        return None
    if not isinstance(backbone, torch.nn.Module) or backbone is base:
        return None
    return backbone, head


class StudioSFTTrainer(SFTTrainer):
    def __init__(self, *args, speed_options: SpeedOptions | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.speed = speed_options or SpeedOptions()
        self._parts = _parts(self.model)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # One process only: calling the backbone directly would bypass DDP's gradient hooks.
        lean = (self.speed.selected_loss and self._parts is not None
                and self.accelerator.num_processes == 1 and "attention_mask" in inputs)
        if return_outputs or not lean or "pixel_values" in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        backbone, head = self._parts
        with self.accelerator.autocast():
            hidden, targets = self._trained_positions(backbone, inputs)
            dtype = (torch.get_autocast_dtype(hidden.device.type)
                     if torch.is_autocast_enabled(hidden.device.type) else hidden.dtype)
        loss_sum = speed.selected_cross_entropy(hidden, head.weight, targets, dtype)
        count = targets.numel() if num_items_in_batch is None else num_items_in_batch
        loss = loss_sum / torch.as_tensor(count, device=loss_sum.device).clamp(min=1)
        self._count_tokens(inputs["attention_mask"])
        return loss

    def _trained_positions(self, backbone, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Final hidden states at positions whose next token is trained, and those tokens."""
        ids, mask, labels = inputs["input_ids"], inputs["attention_mask"], inputs["labels"]
        lengths = mask.sum(dim=1).tolist()
        overhead = speed.BUCKET_OVERHEAD_TOKENS.get(ids.device.type, 4096)
        groups = (speed.length_buckets(lengths, overhead) if self.speed.bucketing
                  else [list(range(len(lengths)))])
        hidden, targets = [], []
        for rows in groups:
            # Rows are right-padded (TRL's collator), so cutting at the group's longest row keeps
            # every real token and the positions unchanged.
            index = torch.tensor(rows, device=ids.device)
            width = max(int(lengths[r]) for r in rows)
            sub_mask = mask[index, :width]
            out = backbone(input_ids=ids[index, :width],
                           attention_mask=None if bool(sub_mask.all()) else sub_mask,
                           use_cache=False)
            shifted = labels[index, 1:width]
            keep = shifted != -100
            hidden.append(out.last_hidden_state[:, :-1][keep])
            targets.append(shifted[keep])
        return torch.cat(hidden), torch.cat(targets)

    def _count_tokens(self, attention_mask: torch.Tensor) -> None:
        """TRL's ``num_tokens`` metric (the run folder's tokens/s is computed from it)."""
        mode = "train" if self.model.training else "eval"
        if mode == "train":
            tokens = self.accelerator.gather_for_metrics(attention_mask.sum()).sum().item()
            self._total_train_tokens += tokens
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]


def build_sft_trainer(model, args, tokenizer, train_rows: list[dict], eval_rows: list[dict],
                      callbacks: list, speed_options: SpeedOptions | None = None):
    """The trainer for prepared rows (``input_ids`` + ``assistant_masks``) and a prepared model."""
    return StudioSFTTrainer(model=model, args=args, train_dataset=to_dataset(train_rows),
                            eval_dataset=to_dataset(eval_rows), processing_class=tokenizer,
                            callbacks=callbacks, speed_options=speed_options)


def train_sft(cfg: TrainConfig, run: Run, stop_event, dataset_path: str, resume_from):
    """Supervised fine-tuning, and continued pre-training (pt: plain text, every token trained,
    packed by default); returns (trainer, tokenizer), or None if stopped before step 1."""
    from transformers import PrinterCallback

    run.log(f"loading {cfg.model} ({cfg.finetuning_type}, {pick_dtype(cfg)})")
    tokenizer = load_tokenizer(cfg.model, cfg.trust_remote_code)
    data = prepare_sft_data(cfg, tokenizer, dataset_path)
    run.log(f"data: {len(data.train)} training rows, {len(data.eval)} held out, "
            f"{len(data.skipped)} skipped")
    for note in data.skipped[:20]:
        run.log(f"  skipped {note}")
    if stop_event.is_set():
        return None
    speed.configure_threads()
    model = prepare_model(cfg)
    callback = RunFolderCallback(run, stop_event, tokenizer, cfg.probe_prompts, cfg.probe_steps,
                                 cfg.system_prompt, plain=cfg.method == "pt")
    trainer = build_sft_trainer(model, to_sft_args(cfg, run, model, bool(data.eval)), tokenizer,
                                data.train, data.eval, [callback])
    trainer.remove_callback(PrinterCallback)  # metrics go to the run folder, not stdout
    if resume_from:
        run.log(f"resuming from {resume_from.name}")
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    return trainer, tokenizer
