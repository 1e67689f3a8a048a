"""The training job: TrainConfig in, a finished run folder out, built on TRL.

``run_training`` does one job in the calling thread: it prepares the model and data, builds TRL's
config from ours (``to_trl_args``, the only place that translation happens), trains with the
run-folder callback, and saves the final adapter or model. It never raises for a user's mistake:
bad data, a missing model or running out of memory end the run as ``failed`` with the message in
``status.json``. ``JobManager`` runs one such job at a time per device on a worker thread, so a
web page can start, stop and resume runs without ever blocking or dying with them.
"""

from __future__ import annotations

import os
import threading
import time
import traceback

import torch

from studio.engine.errors import USER_ERRORS, BusyError, RunStateError
from studio.engine.models import load_tokenizer
from studio.engine.runs import Run, RunStore
from studio.engine.train.callbacks import RunFolderCallback
from studio.engine.train.config import TrainConfig, check
from studio.engine.train.prepare import (
    pick_dtype,
    prepare_model,
    prepare_sft_data,
    use_gradient_checkpointing,
)


def to_trl_args(cfg: TrainConfig, run: Run, model, has_eval: bool):
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
        packing=cfg.packing,
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
    )


def _dataset(rows: list[dict]):
    from datasets import Dataset

    return Dataset.from_list(rows) if rows else None


def save_final(cfg: TrainConfig, run: Run, trainer, tokenizer) -> None:
    target = run.adapter_dir if cfg.finetuning_type in ("lora", "qlora") else run.model_dir
    trainer.model.save_pretrained(str(target), safe_serialization=True)
    tokenizer.save_pretrained(str(target))  # the chat template travels with the weights
    run.log(f"saved {target.name}/ to {target}")


def _failure_message(exc: BaseException) -> str:
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
        return ("Out of memory. Lower batch_size or max_length, use LoRA instead of full "
                "fine-tuning, or turn gradient_checkpointing on.")
    if isinstance(exc, USER_ERRORS):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def run_training(run: Run, stop_event: threading.Event | None = None,
                 dataset_path: str | None = None) -> str:
    """Train ``run`` (fresh, or resumed from its last checkpoint); returns the final state."""
    stop_event = stop_event or threading.Event()
    resume_from = run.last_checkpoint()
    if resume_from is None:
        run.clear_progress()  # a restart from scratch must not append to the old curves
    # This process owns the run now: a stale pid would let it be marked interrupted or deleted.
    run.update_status(state="running", pid=os.getpid(),
                      started_at=run.status().get("started_at") or time.time(),
                      ended_at=None, error=None)
    try:
        cfg = check(run.config())
        state = _train(cfg, run, stop_event, dataset_path or cfg.dataset, resume_from)
    except BaseException as exc:  # the server must outlive any failure of the job
        run.log("FAILED\n" + traceback.format_exc())
        run.update_status(state="failed", error=_failure_message(exc), ended_at=time.time(),
                          traceback="log.txt")
        if not isinstance(exc, Exception):
            raise
        return "failed"
    run.update_status(state=state, ended_at=time.time())
    run.log(f"run {state}")
    return state


def _train(cfg: TrainConfig, run: Run, stop_event, dataset_path: str, resume_from) -> str:
    from transformers import PrinterCallback

    from studio.engine.train.sft import build_sft_trainer
    from studio.engine.train.speed import configure_threads

    if cfg.method != "sft":
        from studio.engine.train.dpo import train_dpo

        return train_dpo(cfg, run, stop_event, dataset_path, resume_from)
    run.log(f"loading {cfg.model} ({cfg.finetuning_type}, {pick_dtype(cfg)})")
    tokenizer = load_tokenizer(cfg.model, cfg.trust_remote_code)
    data = prepare_sft_data(cfg, tokenizer, dataset_path)
    run.log(f"data: {len(data.train)} training rows, {len(data.eval)} held out, "
            f"{len(data.skipped)} skipped")
    for note in data.skipped[:20]:
        run.log(f"  skipped {note}")
    if stop_event.is_set():
        return "stopped"
    configure_threads()
    model = prepare_model(cfg)
    callback = RunFolderCallback(run, stop_event, tokenizer, cfg.probe_prompts, cfg.probe_steps,
                                 cfg.system_prompt)
    trainer = build_sft_trainer(model, to_trl_args(cfg, run, model, bool(data.eval)), tokenizer,
                                data.train, data.eval, [callback])
    trainer.remove_callback(PrinterCallback)  # metrics go to the run folder, not stdout
    if resume_from:
        run.log(f"resuming from {resume_from.name}")
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    save_final(cfg, run, trainer, tokenizer)
    return "stopped" if stop_event.is_set() else "completed"


RESUMABLE = ("stopped", "interrupted", "failed")


def ensure_resumable(run: Run) -> None:
    state = run.status().get("state")
    if state not in RESUMABLE:
        raise RunStateError(f"Run {run.id} is {state}; only stopped, interrupted or failed runs "
                            "can be resumed.")


class JobManager:
    """One training job at a time on this device, on a worker thread the page never waits on."""

    def __init__(self, store: RunStore):
        self.store = store
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._run: Run | None = None
        self._stop = threading.Event()

    def active(self) -> Run | None:
        with self._lock:
            if self._thread and self._thread.is_alive():
                return self._run
            return None

    def start(self, cfg: TrainConfig, dataset_path: str | None = None) -> Run:
        check(cfg)
        with self._lock:
            self._refuse_if_busy()
            run = self.store.create(cfg)
            self._launch(run, dataset_path)
            return run

    def resume(self, run_id: str, dataset_path: str | None = None) -> Run:
        run = self.store.get(run_id)
        with self._lock:
            self._refuse_if_busy()
            ensure_resumable(run)
            run.update_status(state="queued")
            self._launch(run, dataset_path)
            return run

    def stop(self, run_id: str | None = None) -> bool:
        with self._lock:  # the event and the run must belong to the same job
            alive = self._thread is not None and self._thread.is_alive()
            if not alive or (run_id and self._run.id != run_id):
                return False
            self._stop.set()
            active = self._run
        active.log("stop requested")
        return True

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread:
            thread.join(timeout)

    def _refuse_if_busy(self) -> None:
        if self._thread and self._thread.is_alive() and self._run:
            raise BusyError(f"Run {self._run.id} is training on this device. Stop it or wait "
                            "for it to finish before starting another.")

    def _launch(self, run: Run, dataset_path: str | None) -> None:
        self._stop = threading.Event()
        self._run = run
        self._thread = threading.Thread(target=run_training, args=(run, self._stop, dataset_path),
                                        name=f"train-{run.id}", daemon=True)
        self._thread.start()
