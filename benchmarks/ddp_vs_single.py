"""One process vs two DDP processes (accelerate launch, gloo on CPU) with the same global batch.

For the tiny test model and the bundled model: the same run (identity data, seed, schedule) once
in the studio's own process with batch 8, and once as ``launch: distributed`` on 2 processes with
batch 4 each, so every optimizer step sees the same 8 rows. Prints how closely the per-step loss
curves agree (largest and mean absolute difference) and the cost of launching: wall time from
Start to the saved adapter, and the median training step time, DDP over one process.

    .venv/bin/python benchmarks/ddp_vs_single.py [--steps 8] [--json FILE]

On a 2-core CPU two processes share the cores one process would use with two threads, so no
speed-up is expected here: the point is that the same run, handed to accelerate, learns the same.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def train(cfg, runs: Path) -> dict:
    from studio.engine.runs import RunStore
    from studio.engine.train.job import train_run

    run = RunStore(runs).create(cfg)
    t0 = time.perf_counter()
    state = train_run(run, threading.Event())
    wall = time.perf_counter() - t0
    rows = [m for m in run.metrics() if "loss" in m]
    elapsed = [m["elapsed_s"] for m in rows]
    steps = [b - a for a, b in zip(elapsed, elapsed[1:])]
    return {"state": state, "wall_s": wall, "losses": [m["loss"] for m in rows],
            "step_s": statistics.median(steps) if steps else None}


def compare(name: str, model: str, steps: int, tmp: Path) -> dict:
    from studio.engine.train.config import TrainConfig

    base = TrainConfig(model=model, dataset=str(ROOT / "assets" / "identity.json"), name="Nova",
                       author="Acme Lab", max_steps=steps, batch_size=8, max_length=256,
                       learning_rate=1e-3, probe_steps=0, save_steps=10_000, seed=42)
    one = train(base, tmp / f"{name}-one")
    two = train(replace(base, launch="distributed", nproc_per_node=2, batch_size=4),
                tmp / f"{name}-ddp")
    gaps = [abs(a - b) for a, b in zip(one["losses"], two["losses"])]
    return {"model": name, "steps": steps, "one": one, "ddp": two,
            "max_loss_gap": max(gaps), "mean_loss_gap": statistics.mean(gaps),
            "wall_ratio": two["wall_s"] / one["wall_s"],
            "step_ratio": (two["step_s"] / one["step_s"]) if one["step_s"] else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from studio.engine.models import BUNDLED_ID
    from tests.tiny_model import build_tiny_model

    tmp = Path(tempfile.mkdtemp(prefix="ddp-bench-"))
    tiny = build_tiny_model(tmp / "tiny")
    results = [compare("tiny", str(tiny), args.steps, tmp),
               compare(BUNDLED_ID, BUNDLED_ID, args.steps, tmp)]
    print(f"{'model':<22} {'state':<20} {'max gap':>8} {'mean gap':>9} {'wall 1p':>8} "
          f"{'wall 2p':>8} {'x wall':>7} {'step 1p':>8} {'step 2p':>8}")
    for r in results:
        print(f"{r['model']:<22} {r['one']['state'] + '/' + r['ddp']['state']:<20} "
              f"{r['max_loss_gap']:8.4f} {r['mean_loss_gap']:9.4f} {r['one']['wall_s']:7.1f}s "
              f"{r['ddp']['wall_s']:7.1f}s {r['wall_ratio']:7.2f} {r['one']['step_s']:7.2f}s "
              f"{r['ddp']['step_s']:7.2f}s")
        print(f"  losses 1p: {[round(x, 4) for x in r['one']['losses']]}")
        print(f"  losses 2p: {[round(x, 4) for x in r['ddp']['losses']]}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
