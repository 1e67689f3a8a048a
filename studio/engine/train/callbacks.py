"""The trainer callback that writes the run folder while a job trains.

It appends one flushed line to ``metrics.jsonl`` per log event (loss, eval loss, learning rate,
grad norm, tokens per second, epoch, elapsed time), keeps ``status.json`` at the current step,
has the probe prompts answered every N steps into ``samples.jsonl``, and turns a stop request into
"finish this step, save a checkpoint, end". It is the only way a job talks to any page.
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
        self._last_tokens: tuple[float, float] | None = None  # (time, num_tokens)

    # ------------------------------------------------------------------ lifecycle
    def on_train_begin(self, args, state, control, model=None, **kw):
        self.started = time.time() - self.run.status().get("elapsed_s", 0.0)
        self.run.update_status(state="running", total_steps=state.max_steps, step=state.global_step)
        self.run.log(f"training: {state.max_steps} steps")
        if state.global_step == 0:
            self._probe(model, state.global_step)

    def on_step_end(self, args, state, control, model=None, **kw):
        elapsed = time.time() - self.started
        self.run.update_status(step=state.global_step, total_steps=state.max_steps,
                               epoch=state.epoch, elapsed_s=round(elapsed, 1))
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
        row = {"step": state.global_step, "elapsed_s": round(now - self.started, 2)}
        for key, name in METRIC_KEYS.items():
            if key in logs:
                row[name] = logs[key]
        if "num_tokens" in logs:
            if self._last_tokens:
                dt = now - self._last_tokens[0]
                if dt > 0:
                    row["tokens_per_s"] = round((logs["num_tokens"] - self._last_tokens[1]) / dt, 1)
            self._last_tokens = (now, logs["num_tokens"])
        if set(row) - {"step", "elapsed_s", "epoch", "num_tokens"}:
            self.run.append_metric(row)
            shown = ", ".join(f"{k}={v:.4g}" for k, v in row.items()
                              if isinstance(v, float) and k not in ("elapsed_s", "epoch"))
            self.run.log(f"step {state.global_step}/{state.max_steps}: {shown}")

    # ------------------------------------------------------------------ probes
    @torch.no_grad()
    def _probe(self, model, step: int) -> None:
        if model is None or not self.probes or rank() != 0 or sharded():
            return  # other ranks go on to the next step and wait for rank 0 there
        was_training = model.training
        model.eval()
        model.config.use_cache = True
        answers = [{"prompt": p, "answer": self.answer(model, p)} for p in self.probes]
        model.config.use_cache = False
        if was_training:
            model.train()
        self.run.append_sample({"step": step, "answers": answers})

    def answer(self, model, prompt: str, max_new_tokens: int = 48) -> str:
        messages = [{"role": "user", "content": prompt}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        enc = (self.tokenizer(prompt, return_tensors="pt") if self.plain else
               self.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                  return_tensors="pt", return_dict=True))
        enc = {k: v.to(model.device) for k, v in enc.items()}
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=self.tokenizer.pad_token_id)
        return self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:],
                                     skip_special_tokens=True).strip()
