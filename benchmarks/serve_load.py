"""Serving load: concurrent openai clients against `studio serve` vs the same requests in a row.

Starts ``studio serve`` in its own process on the bundled model with two finished LoRA runs
(adapters of the identity preset's shape, rank 16 all-linear, random weights: speed and memory do
not depend on their values), then, with the official ``openai`` client, sends chat requests that
stream 64 new tokens each: one after another (the baseline, one client), and from 1, 4 and 8
concurrent clients. Per setting, over several rounds (medians): aggregate completion tokens/s
(all tokens over the wall time of the round), time to first token p50 / p95, and the speed-up
against the sequential baseline. Memory: the server's resident memory after answering with one
run, then after answering with both runs at once (one copy of the base, two adapters).

    .venv/bin/python benchmarks/serve_load.py [--rounds 3] [--json benchmarks/serve_load.last.json]

Goals from the issue (2-core CPU): 8 clients >= 3x the sequential tokens/s, p95 TTFT < 2 s, two
runs served at once <= 1.1x the memory of one.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = ["Write a short story about a robot who learns to paint.",
           "Explain how a rainbow forms, step by step.",
           "Describe a busy market in the morning.",
           "Write a letter to a friend about your summer holiday.",
           "List ideas for a birthday party and explain each one.",
           "Tell me about the history of bread.",
           "Write a poem about the sea in the winter.",
           "Explain why the sky is blue to a child."]


def make_runs(folder: Path, model_id: str, count: int = 2) -> list[str]:
    """Finished LoRA runs of ``model_id`` with random adapters, as real run folders."""
    from peft import LoraConfig, get_peft_model

    from studio.engine.models import load_model, load_tokenizer
    from studio.engine.runs import RunStore
    from studio.engine.train.config import TrainConfig

    store, ids = RunStore(folder), []
    for i in range(count):
        run = store.create(TrainConfig(model=model_id, dataset="assets/identity.json"),
                           label=f"bench{i}")
        lora = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                          init_lora_weights=False)
        get_peft_model(load_model(model_id), lora).save_pretrained(run.adapter_dir)
        load_tokenizer(model_id).save_pretrained(run.adapter_dir)
        run.update_status(state="completed", step=1, total_steps=1)
        ids.append(run.id)
    return ids


def start_server(runs_dir: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "studio.cli", "serve", "--runs-dir", str(runs_dir),
           "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"studio serve exited:\n{proc.stdout.read()}")
            time.sleep(0.5)
    proc.kill()
    sys.exit("studio serve did not come up in 300 s")


def one_request(client, model: str, prompt: str, tokens: int, seed: int) -> dict:
    t0 = time.perf_counter()
    first, count = None, 0
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], max_tokens=tokens,
        temperature=0.7, seed=seed, stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content and first is None:
            first = time.perf_counter()
        if chunk.usage:
            count = chunk.usage.completion_tokens
    return {"ttft_s": (first or time.perf_counter()) - t0, "tokens": count}


def round_of(client, models: list[str], clients: int, requests: int, tokens: int,
             seed: int) -> dict:
    """``requests`` requests from ``clients`` threads, each thread taking the next request."""
    results, lock, next_index = [], threading.Lock(), [0]

    def worker():
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= requests:
                return
            out = one_request(client, models[i % len(models)], PROMPTS[i % len(PROMPTS)],
                              tokens, seed + i)
            with lock:
                results.append(out)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ttfts = sorted(r["ttft_s"] for r in results)
    return {"tokens_per_s": sum(r["tokens"] for r in results) / wall,
            "ttft_p50_s": statistics.median(ttfts), "ttft_p95_s": _p95(ttfts),
            "tokens": sum(r["tokens"] for r in results), "wall_s": wall}


def _p95(values: list[float]) -> float:
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import openai

    from studio.engine.models import BUNDLED_ID

    tmp = Path(tempfile.mkdtemp(prefix="serve-load-"))
    runs = make_runs(tmp / "runs", BUNDLED_ID)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = start_server(tmp / "runs", port)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none",
                           max_retries=0, timeout=600)
    try:
        memory = {"base_mb": rss_mb(server.pid)}
        one_request(client, runs[0], PROMPTS[0], 8, 0)
        memory["one_run_mb"] = rss_mb(server.pid)
        round_of(client, runs, 2, 2, 8, 0)  # both runs answering at once
        memory["two_runs_mb"] = rss_mb(server.pid)
        memory["two_vs_one"] = memory["two_runs_mb"] / memory["one_run_mb"]
        one_request(client, BUNDLED_ID, PROMPTS[0], args.tokens, 0)  # warm-up
        settings = {"sequential": (1, 8), "1 client": (1, 1), "4 clients": (4, 4),
                    "8 clients": (8, 8)}
        rounds: dict[str, list[dict]] = {name: [] for name in settings}
        for r in range(args.rounds):  # interleaved, so machine noise hurts every setting alike
            for name, (clients, requests) in settings.items():
                rounds[name].append(round_of(client, [BUNDLED_ID], clients, requests,
                                             args.tokens, 100 * r))
    finally:
        server.terminate()
        server.wait(timeout=30)
    table = {name: {key: statistics.median(x[key] for x in rs) for key in rs[0]}
             for name, rs in rounds.items()}
    baseline = table["sequential"]["tokens_per_s"]
    for row in table.values():
        row["vs_sequential"] = row["tokens_per_s"] / baseline
    report = {"model": BUNDLED_ID, "new_tokens": args.tokens, "rounds": args.rounds,
              "threads": os.cpu_count(), "load": table, "memory": memory}
    print(f"{'setting':<12} {'tok/s':>7} {'x seq':>6} {'TTFT p50':>9} {'TTFT p95':>9}")
    for name, row in table.items():
        print(f"{name:<12} {row['tokens_per_s']:7.1f} {row['vs_sequential']:6.2f} "
              f"{row['ttft_p50_s']:8.2f}s {row['ttft_p95_s']:8.2f}s")
    print(f"memory: base {memory['base_mb']:.0f} MB, one run {memory['one_run_mb']:.0f} MB, "
          f"two runs {memory['two_runs_mb']:.0f} MB ({memory['two_vs_one']:.3f}x)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
