"""GRPO with TRL: the model samples several answers per prompt and the reward rules score them.

Each row's question becomes a prompt (a row's own answer, where it has one, is kept as ``answer``
for the exact-answer rule); ``rewards.reward_functions`` gives TRL the rules the user picked and
their weights. ``batch_size`` counts prompts: each step samples ``grpo_generations`` answers for
each, so TRL's per-device batch is their product. With LoRA the KL reference is the same weights
with the adapter off (or the frozen copy of a started run's adapter), never a second model. The
last sampled answers and their rewards are written to ``rollouts.jsonl`` at each probe step, so a
user sees what the rules were rewarding, not only the numbers.
"""

from __future__ import annotations

from studio.engine.data.messages import split_last_answer
from studio.engine.data.template import render_inputs
from studio.engine.errors import DataError
from studio.engine.io import append_jsonl
from studio.engine.models import load_tokenizer
from studio.engine.runs import Run, RunStore
from studio.engine.train.args import to_method_args
from studio.engine.train.callbacks import RunFolderCallback
from studio.engine.train.config import TrainConfig
from studio.engine.train.prepare import (
    load_training_records,
    lora_config,
    prepare_model,
    split_eval,
    to_dataset,
)
from studio.engine.train.rewards import reward_functions, text_of
from studio.engine.train.start import start_adapter

ROLLOUTS_FILE = "rollouts.jsonl"
ROLLOUTS_KEPT = 4  # sampled answers written per probe step


def prompt_rows(cfg: TrainConfig, dataset_path: str, tokenizer) -> tuple[list[dict], list[str]]:
    """``{"prompt": [turns up to the question], "answer": the row's own answer or ""}``."""
    records, skipped = load_training_records(cfg, dataset_path)
    rows = []
    for r in records:
        if "chosen" in r:
            prompt, answer = r["prompt"], r["chosen"]
        elif "messages" in r:
            prompt, answer = split_last_answer(r["messages"])
        else:
            continue  # plain text has no question to answer
        if prompt and prompt[-1]["role"] == "user":
            rows.append({"prompt": render_inputs(tokenizer, prompt, r.get("tools"),
                                                 native=False)[0],
                         "answer": text_of(answer)})
    if not rows:
        raise DataError("data_no_prompts", path=str(dataset_path))
    return rows, skipped


def grpo_extra(cfg: TrainConfig, weights: list[float]) -> dict:
    """What GRPO adds to the shared settings; ``batch_size`` counts prompts, not answers."""
    return {"per_device_train_batch_size": cfg.batch_size * cfg.grpo_generations,
            "per_device_eval_batch_size": cfg.batch_size * cfg.grpo_generations,
            "num_generations": cfg.grpo_generations,
            "max_completion_length": cfg.grpo_max_completion,
            "temperature": cfg.grpo_temperature, "beta": cfg.grpo_kl,
            "reward_weights": weights, "max_length": None,
            # the model trains with its cache off; sampling answers needs it on
            "generation_kwargs": {"use_cache": True}}


class RolloutRecorder:
    """Wraps the reward functions to keep the last batch of sampled answers and their total
    weighted reward, which the probe steps write to ``rollouts.jsonl``. TRL calls every
    function once per batch, in order: each wrapper keeps its scores, and the last one adds
    them up, so no rule is scored twice."""

    def __init__(self, functions: list, weights: list[float]):
        self.functions, self.weights = functions, weights
        self.last: list[dict] = []
        self._scores: list[list[float]] = []

    def wrapped(self) -> list:
        return [self._wrap(i, fn) for i, fn in enumerate(self.functions)]

    def _wrap(self, index: int, fn):
        def record(prompts=None, completions=None, **kwargs):
            scores = fn(prompts=prompts, completions=completions, **kwargs)
            if index == 0:
                self._scores = []
            self._scores.append(scores)
            if index == len(self.functions) - 1:
                self._keep(prompts or [], completions)
            return scores

        record.__name__ = fn.__name__
        return record

    def _keep(self, prompts: list, completions: list) -> None:
        totals = [sum(w * (s[i] or 0.0) for w, s in zip(self.weights, self._scores))
                  for i in range(len(completions))]
        self.last = [{"prompt": text_of(p[-1:] if isinstance(p, list) else p),
                      "answer": text_of(c), "reward": round(t, 4)}
                     for p, c, t in zip(prompts, completions, totals)]


class RolloutCallback(RunFolderCallback):
    """The run-folder callback, plus the last sampled answers at every probe round."""

    def __init__(self, *args, recorder: RolloutRecorder, **kwargs):
        super().__init__(*args, **kwargs)
        self.recorder = recorder

    def _probe(self, model, step: int) -> None:
        super()._probe(model, step)
        if self.recorder.last:
            append_jsonl(self.run.path / ROLLOUTS_FILE,
                         {"step": step, "rollouts": self.recorder.last[:ROLLOUTS_KEPT]})


def train_grpo(cfg: TrainConfig, run: Run, stop_event, dataset_path: str, resume_from):
    """GRPO; returns (trainer, tokenizer), or None if stopped before the first step."""
    from transformers import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    functions, weights = reward_functions(cfg, cfg.allow_code)
    tokenizer = load_tokenizer(cfg.model, cfg.trust_remote_code)
    rows, skipped = prompt_rows(cfg, dataset_path, tokenizer)
    train, held = split_eval(rows, cfg.val_fraction, cfg.seed)
    names = ", ".join(f"{f.__name__}×{w:g}" for f, w in zip(functions, weights))
    run.log(f"data: {len(train)} prompts, {len(held)} held out, {len(skipped)} skipped; "
            f"rewards: {names}")
    if stop_event.is_set():
        return None
    start = start_adapter(cfg, RunStore(run.path.parent))
    fresh_lora = start is None and cfg.finetuning_type in ("lora", "qlora")
    model = prepare_model(cfg, wrap_lora=not fresh_lora, start=start)
    recorder = RolloutRecorder(functions, weights)
    callback = RolloutCallback(run, stop_event, tokenizer, cfg.probe_prompts, cfg.probe_steps,
                               cfg.system_prompt, recorder=recorder)
    args = to_method_args(cfg, run, model, bool(held), GRPOConfig, **grpo_extra(cfg, weights))
    trainer = GRPOTrainer(model=model, reward_funcs=recorder.wrapped(), args=args,
                          train_dataset=to_dataset(train), eval_dataset=to_dataset(held),
                          processing_class=tokenizer, callbacks=[callback],
                          peft_config=lora_config(cfg) if fresh_lora else None)
    trainer.remove_callback(PrinterCallback)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    return trainer, tokenizer
