"""Training speed: plain TRL SFTTrainer with its defaults vs the studio's engine, all else equal.

Each workload (the identity preset's short rows, alpaca_en_demo's longer ones) is trained with LoRA
and with full fine-tuning, on the same model, the same tokenized rows (the studio's assistant-only
masks, so both ways learn from exactly the same tokens), the same seed, learning rate, schedule and
number of steps, two ways: ``trl`` (SFTTrainer, SFTConfig defaults: bf16 autocast over fp32
weights, gradient checkpointing, TRL's fused LM head over every position) and ``studio`` (the
engine's ``prepare_model`` / ``to_sft_args`` / ``StudioSFTTrainer``, probes off). Ablations drop
one studio optimization each (``studio-nobucket``, ``studio-fullhead``, ``studio-ckpt``,
``studio-fp32base``). Every run is its own subprocess (clean memory peak, no shared state), and
runs alternate A, B, B, A ... so a busy shared CPU slows both alike. Tokens/s counts real (non-pad)
tokens over all steps but the first; model FLOP/s uses the same per-token FLOP count for both ways
(forward 2 x weights + attention + LM head at every position; x3 for full fine-tuning, x2 for LoRA,
whose frozen weights need no weight gradients) and is set against a bf16 matmul loop's peak.

    .venv/bin/python benchmarks/train_speed.py --steps 15            # the README table
    .venv/bin/python benchmarks/train_speed.py --ways trl,studio,studio-nobucket --methods lora
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORKLOADS = {
    "identity": {"dataset": str(ROOT / "assets" / "identity.json"), "name": "Nova",
                 "author": "Acme Lab", "max_length": 256},
    "alpaca": {"dataset": str(ROOT.parent / "shared" / "datasets" / "alpaca_en_demo.json"),
               "max_length": 512},
}
LEARNING_RATES = {"lora": 1e-3, "qlora": 1e-3, "full": 2e-5}  # qlora: CUDA with bitsandbytes
ABLATIONS = {  # way -> (TrainConfig overrides, SpeedOptions overrides)
    "studio": ({}, {}),
    "studio-nobucket": ({}, {"bucketing": False}),
    "studio-fullhead": ({}, {"selected_loss": False}),
    "studio-ckpt": ({"gradient_checkpointing": "on"}, {}),
    "studio-fp32base": ({}, {}),  # LoRA over fp32 weights + autocast, as TRL loads the model
}


def train_config(spec: dict):
    from studio.engine.train.config import TrainConfig

    work = WORKLOADS[spec["workload"]]
    fields = {k: v for k, v in work.items() if k != "max_length"}
    return TrainConfig(model=spec["model"], finetuning_type=spec["method"], max_steps=spec["steps"],
                       batch_size=spec["batch_size"], max_length=spec["max_length"] or
                       work["max_length"], learning_rate=LEARNING_RATES[spec["method"]],
                       lr_scheduler="cosine", warmup_ratio=0.05, seed=42, logging_steps=1,
                       save_steps=10**6, probe_prompts=[], probe_steps=0, **fields)


# --------------------------------------------------------------------------- one run (child)


def run_one(spec: dict) -> dict:
    """Train one way and measure it; runs in its own process unless --in-process."""
    import torch

    from studio.engine.models import load_tokenizer
    from studio.engine.train.prepare import prepare_sft_data
    from studio.engine.train.speed import configure_threads

    cfg = train_config(spec)
    tokenizer = load_tokenizer(cfg.model)
    data = prepare_sft_data(cfg, tokenizer, cfg.dataset)
    out = tempfile.mkdtemp(prefix="train-speed-")
    timer = _timer_callback()
    if spec["way"] == "trl":
        trainer = _trl_trainer(cfg, tokenizer, data.train, out, timer)
    else:
        configure_threads()
        trainer = _studio_trainer(cfg, spec["way"], tokenizer, data.train, out, timer)
    timer.trainer = trainer
    trainer.train()
    if torch.cuda.is_available():
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    steps = timer.steps[1:] or timer.steps  # the first step pays one-off warm-up costs
    seconds = sum(s for s, _ in steps)
    tokens = sum(t for _, t in steps)
    lengths = [len(r["input_ids"][: cfg.max_length]) for r in data.train]
    return {**spec, "tokens_per_s": tokens / seconds if seconds else 0.0,
            "step_s": statistics.median(s for s, _ in steps), "peak_gib": peak,
            "losses": timer.losses, "final_loss": timer.losses[-1] if timer.losses else None,
            "flops_per_token": flops_per_token(trainer.model, cfg.finetuning_type,
                                               statistics.mean(lengths))}


def _timer_callback():
    from transformers import TrainerCallback

    class Timer(TrainerCallback):
        def __init__(self):
            self.steps, self.losses, self.trainer, self._t0, self._tok0 = [], [], None, 0.0, 0

        def on_step_begin(self, args, state, control, **kw):
            self._t0, self._tok0 = time.perf_counter(), self.trainer._total_train_tokens

        def on_step_end(self, args, state, control, **kw):
            self.steps.append((time.perf_counter() - self._t0,
                               self.trainer._total_train_tokens - self._tok0))

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.losses.append(round(float(logs["loss"]), 4))

    return Timer()


def _trl_trainer(cfg, tokenizer, rows, out, timer):
    """Plain TRL: a model path, SFTConfig defaults, a LoraConfig for LoRA; only the recipe set."""
    import torch
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from studio.engine.models import resolve_model
    from studio.engine.train.prepare import to_dataset

    args = SFTConfig(output_dir=out, per_device_train_batch_size=cfg.batch_size,
                     max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
                     lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio,
                     seed=cfg.seed, max_length=cfg.max_length, logging_steps=1,
                     save_strategy="no", report_to=[], disable_tqdm=True,
                     use_cpu=not torch.cuda.is_available())  # bf16 on CPU is refused without it
    if cfg.finetuning_type == "qlora":  # the same 4-bit NF4 setup prepare_model uses
        from transformers import BitsAndBytesConfig

        args.model_init_kwargs = {"quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True)}
    peft = None
    if cfg.finetuning_type in ("lora", "qlora"):
        peft = LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, target_modules="all-linear",
                          lora_dropout=cfg.lora_dropout, task_type="CAUSAL_LM")
    return SFTTrainer(model=resolve_model(cfg.model), args=args, train_dataset=to_dataset(rows),
                      processing_class=tokenizer, peft_config=peft, callbacks=[timer])


def _studio_trainer(cfg, way, tokenizer, rows, out, timer):
    """The engine's own path, as ``studio.engine.train._train`` takes it, with probes off."""
    import dataclasses
    import threading

    from transformers import PrinterCallback

    from studio.engine.runs import RunStore
    from studio.engine.train import prepare
    from studio.engine.train.args import to_sft_args
    from studio.engine.train.callbacks import RunFolderCallback
    from studio.engine.train.sft import SpeedOptions, build_sft_trainer

    cfg_changes, speed_changes = ABLATIONS[way]
    cfg = dataclasses.replace(cfg, **cfg_changes)
    run = RunStore(Path(out) / "runs").create(cfg)
    fp32_base = way == "studio-fp32base"
    model = _fp32_base(cfg, prepare) if fp32_base else prepare.prepare_model(cfg)
    callback = RunFolderCallback(run, threading.Event(), tokenizer, [], 0)
    trainer = build_sft_trainer(model, to_sft_args(cfg, run, model, False), tokenizer, rows, [],
                                [callback, timer], SpeedOptions(**speed_changes))
    trainer.remove_callback(PrinterCallback)
    return trainer


def _fp32_base(cfg, prepare):
    import torch

    original = prepare.pick_dtype
    prepare.pick_dtype = lambda c: torch.float32  # load fp32; to_sft_args still asks for bf16
    try:
        return prepare.prepare_model(cfg)
    finally:
        prepare.pick_dtype = original


def flops_per_token(model, method: str, mean_len: float) -> float:
    """Model FLOPs per real token of one training step (same count for every way)."""
    config = model.config
    h, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or h // heads
    kv = getattr(config, "num_key_value_heads", heads)
    per_layer = 2 * (h * head_dim * (heads + 2 * kv) + heads * head_dim * h
                     + 3 * h * config.intermediate_size)
    attention = 2 * heads * head_dim * mean_len  # causal: QK^T and AV over half the context each
    forward = layers * (per_layer + attention) + 2 * vocab * h
    return forward * (3 if method == "full" else 2)


# --------------------------------------------------------------------------- the driver (parent)


def matmul_peak(size: int = 2048, iters: int = 12) -> float:
    """Best bf16 (fp32 without bf16 support) matmul rate of this machine, FLOP/s."""
    import torch

    from studio.engine.models import bf16_supported

    dtype = torch.bfloat16 if bf16_supported() else torch.float32
    device = "cuda" if torch.cuda.is_available() else "cpu"
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    rates = []
    for _ in range(iters + 2):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        rates.append(2 * size**3 / (time.perf_counter() - t0))
    return max(rates[2:])


def run_spec(spec: dict, in_process: bool) -> dict:
    if in_process:
        return run_one(spec)
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                          capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{spec['way']} run failed:\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1])


def summarize(results: list[dict], peak: float) -> list[dict]:
    """Median over repeats per (workload, method, way), with the ratio to the trl way."""
    rows = []
    keys = dict.fromkeys((r["workload"], r["method"], r["way"]) for r in results)
    for workload, method, way in keys:
        runs = [r for r in results if (r["workload"], r["method"], r["way"]) ==
                (workload, method, way)]
        tps = statistics.median(r["tokens_per_s"] for r in runs)
        flops = tps * runs[0]["flops_per_token"]
        rows.append({"workload": workload, "method": method, "way": way, "tokens_per_s": tps,
                     "step_s": statistics.median(r["step_s"] for r in runs),
                     "peak_gib": max(r["peak_gib"] for r in runs),
                     "final_loss": statistics.median(r["final_loss"] for r in runs),
                     "losses": runs[0]["losses"], "tflops": flops / 1e12,
                     "pct_peak": 100 * flops / peak})
    for row in rows:
        base = next((r for r in rows if (r["workload"], r["method"], r["way"]) ==
                     (row["workload"], row["method"], "trl")), None)
        row["ratio"] = row["tokens_per_s"] / base["tokens_per_s"] if base else None
        row["max_loss_gap"] = (max(abs(a - b) for a, b in zip(row["losses"], base["losses"],
                                                              strict=False))
                               if base and row["losses"] and base["losses"] else None)
    return rows


def table(rows: list[dict]) -> str:
    head = ("| workload | method | way | tokens/s | x trl | step s | peak GiB | final loss | "
            "max loss gap | TFLOP/s | % bf16 peak |\n|" + "---|" * 11)
    lines = [head]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        gap = f"{r['max_loss_gap']:.3f}" if r["max_loss_gap"] is not None else "-"
        lines.append(f"| {r['workload']} | {r['method']} | {r['way']} | {r['tokens_per_s']:.0f} | "
                     f"{ratio} | {r['step_s']:.2f} | {r['peak_gib']:.2f} | {r['final_loss']:.4f} "
                     f"| {gap} | {r['tflops']:.3f} | {r['pct_peak']:.1f} |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=0, help="0 = each workload's own")
    p.add_argument("--workloads", default="identity,alpaca")
    p.add_argument("--methods", default="lora,full", help="lora, full, qlora (CUDA only)")
    p.add_argument("--ways", default="trl,studio", help=f"trl and any of {', '.join(ABLATIONS)}")
    p.add_argument("--repeats", type=int, default=1, help="runs of each way, interleaved")
    p.add_argument("--in-process", action="store_true", help="no subprocesses (tests)")
    p.add_argument("--json", help="also write every run's numbers here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_one(json.loads(args.child))), flush=True)
        return []
    ways = args.ways.split(",")
    unknown = [w for w in ways if w != "trl" and w not in ABLATIONS]
    if unknown:
        raise SystemExit(f"unknown ways: {', '.join(unknown)}")
    peak = matmul_peak()
    print(f"bf16 matmul peak: {peak / 1e12:.3f} TFLOP/s", flush=True)
    results = []
    for workload in args.workloads.split(","):
        for method in args.methods.split(","):
            for repeat in range(args.repeats):
                for way in ways if repeat % 2 == 0 else ways[::-1]:
                    spec = {"workload": workload, "method": method, "way": way,
                            "model": args.model, "steps": args.steps,
                            "batch_size": args.batch_size, "max_length": args.max_length}
                    result = run_spec(spec, args.in_process)
                    results.append(result)
                    print(f"{workload:9s} {method:5s} {way:16s} {result['tokens_per_s']:8.0f} "
                          f"tok/s  step {result['step_s']:.2f}s  loss {result['final_loss']}",
                          flush=True)
    peak = max(peak, matmul_peak())
    rows = summarize(results, peak)
    print(f"\nbf16 matmul peak (best of start and end): {peak / 1e12:.3f} TFLOP/s\n")
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"peak_flops": peak, "runs": results,
                                               "summary": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
