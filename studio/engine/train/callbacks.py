"""The trainer callback that writes the run folder while a job trains.

It appends one flushed line to ``metrics.jsonl`` per log event (loss, eval loss, learning rate,
grad norm, tokens per second, epoch, wall and training time), keeps ``status.json`` at the
current step, has the probe prompts answered every N steps into ``samples.jsonl``, and turns a
stop request into "finish this step, save a checkpoint, end". It is the only way a job talks to
any page. Probes are answered in one batched greedy ``generate`` call, and the seconds they take
are kept out of the training clock: ``train_s`` (and so ``tokens_per_s``) counts training only,
``elapsed_s`` stays wall time, and each probe round records its own ``probe_s``. The first step a
process logs pays one-off costs (allocations, kernel set-up), so its row says ``warmup: true``.
"""

from __future__ import annotations

import threading
import time

import torch
from transformers import TrainerCallback

from studio.engine.runs import Run
from studio.engine.train.ranks import any_rank, rank, sharded

METRIC_KEYS = {"loss": "loss", "eval_loss": "eval_loss", "learning_rate": "lr",
               "grad_norm": "grad_norm", "epoch": "epoch", "num_tokens": "num_tokens"}
# What preference methods and GRPO log of their own, kept under TRL's names: rewards of the
# chosen and rejected answers, margins and accuracies (DPO, ORPO, SimPO, KTO), GRPO's reward
# mean and spread (per rule as rewards/<rule>/mean|std), KL and completion length.
METHOD_METRICS = ("rewards/", "eval_rewards/", "reward", "kl", "completions/mean_length")
# New tokens per probe answer: room for the identity demo's longest answer (41 tokens in
# Chinese) and its end token. Generation stops as soon as every answer has ended.
PROBE_MAX_NEW_TOKENS = 48


class RunFolderCallback(TrainerCallback):
    def __init__(self, run: Run, stop_event: threading.Event, tokenizer, probes: list[str],
                 probe_steps: int, system_prompt: str = "", plain: bool = False):
        self.run = run
        self.stop_event = stop_event
        self.tokenizer = tokenizer
        self.probes = [p for p in probes if p.strip()]
        self.probe_steps = probe_steps
        self.system_prompt = system_prompt
        self.plain = plain  # continued pre-training: a probe is text to continue, not a question
        self.started = time.time()
        self.probe_total = 0.0  # seconds spent answering probes: wall time, not training time
        self._last_tokens: tuple[float, float] | None = None  # (train seconds, num_tokens)
        self._warm = False  # whether this process has logged a training step yet

    def train_seconds(self, now: float | None = None) -> float:
        """Seconds of training so far: wall time since the start, less the probes."""
        return (now or time.time()) - self.started - self.probe_total

    # ------------------------------------------------------------------ lifecycle
    def on_train_begin(self, args, state, control, model=None, **kw):
        status = self.run.status()
        elapsed = status.get("elapsed_s", 0.0)
        self.started = time.time() - elapsed
        # A resumed run goes on from the clocks it stopped with (probes it answered included).
        self.probe_total = max(0.0, elapsed - status.get("train_s", elapsed))
        if state.global_step == 0:
            self._last_tokens = (0.0, 0.0)  # a fresh run has counted no tokens yet
        self.run.update_status(state="running", total_steps=state.max_steps, step=state.global_step)
        self.run.log(f"training: {state.max_steps} steps")
        if state.global_step == 0:
            self._probe(model, state.global_step)

    def on_step_end(self, args, state, control, model=None, **kw):
        now = time.time()
        self.run.update_status(step=state.global_step, total_steps=state.max_steps,
                               epoch=state.epoch, elapsed_s=round(now - self.started, 1),
                               train_s=round(self.train_seconds(now), 1))
        if self.probe_steps and state.global_step % self.probe_steps == 0:
            self._probe(model, state.global_step)
        if any_rank(self.stop_event.is_set()):  # every rank stops after the same step
            control.should_save = True  # a stopped run can resume from this exact step
            control.should_training_stop = True
            self.run.log(f"stop requested: stopping after step {state.global_step}")

    def on_train_end(self, args, state, control, model=None, **kw):
        last = self.run.samples()
        if not last or last[-1].get("step") != state.global_step:
            self._probe(model, state.global_step)

    # ------------------------------------------------------------------ metrics
    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        now = time.time()
        row = {"step": state.global_step, "elapsed_s": round(now - self.started, 2),
               "train_s": round(self.train_seconds(now), 2)}
        for key, name in METRIC_KEYS.items():
            if key in logs:
                row[name] = logs[key]
        row.update({k: v for k, v in logs.items()
                    if k.startswith(METHOD_METRICS) and isinstance(v, (int, float))})
        if "num_tokens" in logs:
            row.update(self._throughput(self.train_seconds(now), logs["num_tokens"]))
        if set(row) - {"step", "elapsed_s", "train_s", "epoch", "num_tokens", "warmup"}:
            self.run.append_metric(row)
            shown = ", ".join(f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float)
                              and k not in ("elapsed_s", "train_s", "epoch") and "/" not in k)
            self.run.log(f"step {state.global_step}/{state.max_steps}: {shown}")

    def _throughput(self, train_s: float, num_tokens: float) -> dict:
        """Tokens per second of training since the last log, and the warm-up mark."""
        out = {}
        if not self._warm:
            out["warmup"] = True  # first step of this process: a chart should not read its pace
            self._warm = True
        if self._last_tokens and train_s > self._last_tokens[0]:
            out["tokens_per_s"] = round((num_tokens - self._last_tokens[1])
                                        / (train_s - self._last_tokens[0]), 1)
        self._last_tokens = (train_s, num_tokens)
        return out

    # ------------------------------------------------------------------ probes
    @torch.no_grad()
    def _probe(self, model, step: int) -> None:
        if model is None or not self.probes or rank() != 0 or sharded():
            return  # other ranks go on to the next step and wait for rank 0 there
        began = time.time()
        try:
            answers = self._answer_in_eval_mode(model)
            seconds = time.time() - began
            self.run.append_sample({"step": step, "answers": answers,
                                    "probe_s": round(seconds, 2)})
            self.run.log(f"step {step}: {len(answers)} probes answered in {seconds:.1f} s "
                         "(not counted as training time)")
        finally:
            self.probe_total += time.time() - began

    def _answer_in_eval_mode(self, model) -> list[dict]:
        was_training = model.training
        model.eval()
        model.config.use_cache = True
        try:
            answers = self.answer_all(model, self.probes)
        finally:
            model.config.use_cache = False
            if was_training:
                model.train()
        return [{"prompt": p, "answer": a} for p, a in zip(self.probes, answers)]

    def answer_all(self, model, prompts: list[str],
                   max_new_tokens: int = PROBE_MAX_NEW_TOKENS) -> list[str]:
        return greedy_answers(model, self.tokenizer, prompts, max_new_tokens,
                              self.system_prompt, self.plain)


@torch.no_grad()
def greedy_answers(model, tokenizer, prompts: list[str],
                   max_new_tokens: int = PROBE_MAX_NEW_TOKENS, system_prompt: str = "",
                   plain: bool = False) -> list[str]:
    """Greedy answers to ``prompts`` from one batched ``generate`` call: left padding and an
    attention mask keep each answer the one it would get alone (token for token in fp32).
    ``plain`` continues the prompts as text instead of asking them as chat questions."""
    rows = [_prompt_ids(tokenizer, p, system_prompt, plain) for p in prompts]
    pad = tokenizer.eos_token_id if tokenizer.pad_token_id is None else tokenizer.pad_token_id
    batch = left_padded(rows, pad, model.device)
    out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                         pad_token_id=pad)
    width = batch["input_ids"].shape[1]
    ends = end_tokens(model, tokenizer)
    return [tokenizer.decode(until_end(row[width:].tolist(), ends),
                             skip_special_tokens=True).strip() for row in out]


def _prompt_ids(tokenizer, prompt: str, system_prompt: str, plain: bool) -> list[int]:
    if plain:
        return list(tokenizer(prompt)["input_ids"])
    messages = [{"role": "user", "content": prompt}]
    if system_prompt:
        messages.insert(0, {"role": "system", "content": system_prompt})
    enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                        return_dict=True)
    return list(enc["input_ids"])


def left_padded(rows: list[list[int]], pad_id: int, device) -> dict:
    """``input_ids`` and ``attention_mask`` with every row padded on the left to the longest, so
    all rows end where generation begins."""
    width = max(len(r) for r in rows)
    ids = [[pad_id] * (width - len(r)) + r for r in rows]
    mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
    return {"input_ids": torch.tensor(ids, device=device),
            "attention_mask": torch.tensor(mask, device=device)}


def end_tokens(model, tokenizer) -> set[int]:
    """The token ids that end an answer for ``generate`` (its config's, else the tokenizer's)."""
    config = getattr(model, "generation_config", None)
    ends = getattr(config, "eos_token_id", None)
    if ends is None:
        ends = tokenizer.eos_token_id
    return set(ends) if isinstance(ends, (list, tuple)) else {ends} - {None}


def until_end(tokens: list[int], ends: set[int]) -> list[int]:
    """An answer's tokens up to and including its end token: what an answer generated alone
    holds; in a batch, the rows that ended early are padded after it."""
    for i, token in enumerate(tokens):
        if token in ends:
            return tokens[:i + 1]
    return tokens
