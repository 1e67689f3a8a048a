"""Chat speed and memory: the studio's streaming chat against a bare ``model.generate``.

On the same model, prompt, settings and process it measures, as medians over several rounds
(studio and bare interleaved, so a noisy shared machine hurts both alike): time to first token,
decode tokens/s for the base model alone, the tuned model alone (base + LoRA adapter) and the two
side by side; and, each in a fresh process, resident memory of a single model answering against
side-by-side mode answering with both. Targets from the issue: first token within 0.3 s on the
bundled model, decode at least 0.9x the bare loop, side-by-side memory within 1.15x.

    .venv/bin/python benchmarks/chat_speed.py [--adapter RUN_OR_FOLDER --runs-dir runs]

Without ``--adapter`` a LoRA adapter of the identity preset's shape (rank 16, all-linear) with
random weights is made in a temporary folder: speed and memory do not depend on its values.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = "Write a short story about a robot who learns to paint. Use at least three paragraphs."


def random_adapter(model_id: str, folder: Path) -> Path:
    from peft import LoraConfig, get_peft_model

    from studio.engine.models import load_model, load_tokenizer

    model = load_model(model_id)
    lora = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(folder)
    load_tokenizer(model_id).save_pretrained(folder)
    return folder


def studio_round(engine, target, sides, sampling) -> dict:
    t0 = time.perf_counter()
    first = last = None
    for update in engine.stream([{"role": "user", "content": PROMPT}], target=target,
                                sides=sides, sampling=sampling):
        now = time.perf_counter()
        first = first or now
        last = update
    stats = last.stats
    return {"ttft_s": first - t0,
            "tokens_per_s": {s: stats[s]["tokens_per_s"] for s in sides},
            "tokens": {s: stats[s]["tokens"] for s in sides}}


def bare_round(model, tokenizer, sampling, n_tokens: int) -> dict:
    """``model.generate`` with the same settings: first token time, then n tokens."""
    import torch

    enc = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}],
                                        add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)
    kw = dict(do_sample=False, repetition_penalty=sampling.repetition_penalty,
              pad_token_id=tokenizer.pad_token_id)
    with torch.inference_mode():
        t0 = time.perf_counter()
        model.generate(**enc, max_new_tokens=1, **kw)
        ttft = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = model.generate(**enc, max_new_tokens=n_tokens, min_new_tokens=n_tokens, **kw)
        total = time.perf_counter() - t0
    n = out.shape[1] - enc["input_ids"].shape[1]
    return {"ttft_s": ttft, "tokens_per_s": (n - 1) / max(total - ttft, 1e-9), "tokens": n}


def speed(args) -> dict:
    from studio.engine.chat.decode import Sampling
    from studio.engine.chat.engine import ChatEngine
    from studio.engine.runs import RunStore

    runs = RunStore(args.runs_dir) if Path(args.runs_dir).is_dir() else None
    engine = ChatEngine(runs=runs, dtype=args.dtype)
    target = engine.target(args.model, args.adapter)
    sampling = Sampling(max_new_tokens=args.tokens, temperature=0, repetition_penalty=1.1)
    tok = engine.tokenizer(target)
    results = {}
    # base first, before any adapter wraps the model: the plain model, as users load it
    base_target = engine.target(target.model_id, None)
    for label, tgt, sides in (("base", base_target, ("base",)),
                              ("tuned", target, ("tuned",)),
                              ("side_by_side", target, ("base", "tuned"))):
        studio_runs, bare_runs = [], []
        studio_round(engine, tgt, sides, sampling)  # warm-up: load, first-call allocations
        for _ in range(args.rounds):
            studio_runs.append(studio_round(engine, tgt, sides, sampling))
            if label == "side_by_side":
                continue
            # the engine's model is left in this label's adapter state by the studio round
            n = studio_runs[-1]["tokens"][sides[0]]
            bare_runs.append(bare_round(engine._model, tok, sampling, n))
        results[label] = summarize(studio_runs, bare_runs, sides)
        print(label, json.dumps(results[label]), flush=True)
    return results


def summarize(studio_runs, bare_runs, sides) -> dict:
    med = statistics.median
    out = {"studio_ttft_s": round(med(r["ttft_s"] for r in studio_runs), 4),
           "tokens": studio_runs[0]["tokens"]}
    for s in sides:
        out[f"studio_{s}_tok_s"] = round(med(r["tokens_per_s"][s] for r in studio_runs), 2)
    if bare_runs:
        out["bare_ttft_s"] = round(med(r["ttft_s"] for r in bare_runs), 4)
        out["bare_tok_s"] = round(med(r["tokens_per_s"] for r in bare_runs), 2)
        out["ratio"] = round(out[f"studio_{sides[0]}_tok_s"] / out["bare_tok_s"], 3)
    return out


def memory_child(args) -> None:
    """One fresh process: load, answer once, report resident memory (current and peak)."""
    import resource

    import psutil

    from studio.engine.chat.decode import Sampling
    from studio.engine.chat.engine import ChatEngine
    from studio.engine.runs import RunStore

    runs = RunStore(args.runs_dir) if Path(args.runs_dir).is_dir() else None
    engine = ChatEngine(runs=runs, dtype=args.dtype)
    pair = args.memory_child == "pair"
    target = engine.target(args.model, args.adapter if pair else None)
    sampling = Sampling(max_new_tokens=args.tokens, temperature=0)
    engine.reply([{"role": "user", "content": PROMPT}], target=target,
                 sides=("base", "tuned") if pair else ("base",), sampling=sampling)
    rss = psutil.Process().memory_info().rss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"rss_mb": round(rss / 2**20, 1), "peak_mb": round(peak / 2**20, 1)}))


def memory(args) -> dict:
    out = {}
    for mode in ("single", "pair"):
        cmd = [sys.executable, __file__, "--memory-child", mode, "--model", args.model,
               "--adapter", args.adapter, "--runs-dir", args.runs_dir, "--dtype", args.dtype,
               "--tokens", str(args.tokens)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["rss_ratio"] = round(out["pair"]["rss_mb"] / out["single"]["rss_mb"], 3)
    out["peak_ratio"] = round(out["pair"]["peak_mb"] / out["single"]["peak_mb"], 3)
    print("memory", json.dumps(out), flush=True)
    return out


def main() -> None:
    from studio.engine.models import BUNDLED_ID

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=BUNDLED_ID)
    p.add_argument("--adapter", default=None, help="run id or adapter folder (default: random)")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--tokens", type=int, default=96)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--memory-child", choices=["single", "pair"], help=argparse.SUPPRESS)
    p.add_argument("--skip-memory", action="store_true")
    args = p.parse_args()
    if args.memory_child:
        return memory_child(args)
    tmp = tempfile.TemporaryDirectory()
    if not args.adapter:
        args.adapter = str(random_adapter(args.model, Path(tmp.name) / "adapter"))
    import torch

    print(f"torch threads {torch.get_num_threads()}, load average "
          f"{os.getloadavg()[0]:.1f}, dtype {args.dtype}", flush=True)
    report = {"speed": speed(args)}
    if not args.skip_memory:
        report["memory"] = memory(args)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
