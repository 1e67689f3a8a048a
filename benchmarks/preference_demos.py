"""The DPO and GRPO demo presets, before and after: does the bundled model visibly change?

For each demo preset, in a fresh process of its own (so its peak memory is its own): the base
model answers the preset's held-out prompts (its probe prompts, never in its training data)
greedily; the preset trains exactly as the Train tab would run it (``run_training``, forgetting
check off); the tuned model answers the same prompts. Printed per preset: the rate of the wanted
behaviour before and after (DPO greeting demo: the answer opens with the greeting; GRPO
short-answer demo: at most the preset's target words), the mean reward of the preset's own
rules for GRPO, the training wall time and the process's peak memory.

    .venv/bin/python benchmarks/preference_demos.py [--only dpo-greeting-demo]
        [--json benchmarks/preference_demos.last.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEMOS = ("dpo-greeting-demo", "grpo-short-demo")
MAX_NEW_TOKENS = 160


def answers(model, tokenizer, prompts: list[str]) -> list[str]:
    """Greedy answers, as the Train tab's probes give them, with room for whole answers."""
    from studio.engine.train.callbacks import greedy_answers

    return greedy_answers(model, tokenizer, prompts, MAX_NEW_TOKENS)


def wanted(name: str, cfg, text: str) -> bool:
    from studio.engine.train import rewards

    if name.startswith("dpo"):
        return text.startswith("Nova here")
    return rewards.length_score(text, cfg.reward_length_words) == 1.0


def mean_reward(cfg, texts: list[str]) -> float | None:
    from studio.engine.train.rewards import reward_functions

    if cfg.method != "grpo":
        return None
    functions, weights = reward_functions(cfg)
    scores = [0.0] * len(texts)
    for fn, w in zip(functions, weights):
        for i, s in enumerate(fn(completions=texts)):
            scores[i] += w * s
    return round(sum(scores) / len(scores), 3)


def one_demo(name: str) -> dict:
    import torch
    from peft import PeftModel

    from studio.engine.models import load_model, load_tokenizer
    from studio.engine.runs import RunStore
    from studio.engine.train.config import load_yaml
    from studio.engine.train.job import run_training

    cfg = dataclasses.replace(load_yaml(ROOT / "presets" / f"{name}.yaml"),
                              forgetting_check=False)
    cfg = dataclasses.replace(cfg, dataset=str(ROOT / cfg.dataset))
    prompts = list(cfg.probe_prompts)
    tokenizer = load_tokenizer(cfg.model)
    base = load_model(cfg.model, dtype=torch.bfloat16).eval()
    before = answers(base, tokenizer, prompts)
    run = RunStore(Path(tempfile.mkdtemp(prefix="demo-")) / "runs").create(cfg)
    began = time.time()
    state = run_training(run)
    wall = time.time() - began
    if state != "completed":
        sys.exit(f"{name}: run {state}: {run.status().get('error')}")
    tuned = PeftModel.from_pretrained(base, str(run.adapter_dir)).eval()
    after = answers(tuned, tokenizer, prompts)
    return {"preset": name, "prompts": len(prompts), "steps": run.status().get("step"),
            "base_rate": sum(wanted(name, cfg, t) for t in before) / len(prompts),
            "tuned_rate": sum(wanted(name, cfg, t) for t in after) / len(prompts),
            "base_reward": mean_reward(cfg, before), "tuned_reward": mean_reward(cfg, after),
            "train_wall_s": round(wall, 1),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "examples": [{"prompt": p, "base": b, "tuned": a}
                         for p, b, a in zip(prompts, before, after)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=DEMOS)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_demo(args.child), ensure_ascii=False))
        return
    results = []
    for name in [args.only] if args.only else DEMOS:
        out = subprocess.run([sys.executable, __file__, "--child", name], cwd=ROOT,
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"{name} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'preset':<18} {'steps':>5} {'base':>6} {'tuned':>6} {'reward':>13} "
          f"{'train s':>8} {'peak MB':>8}")
    for r in results:
        reward = (f"{r['base_reward']}->{r['tuned_reward']}" if r["base_reward"] is not None
                  else "-")
        print(f"{r['preset']:<18} {r['steps']:>5} {r['base_rate']:>6.0%} {r['tuned_rate']:>6.0%} "
              f"{reward:>13} {r['train_wall_s']:>8.1f} {r['peak_mb']:>8}")
    for r in results:
        for e in r["examples"][:3]:
            print(f"\n[{r['preset']}] {e['prompt']}\n  base:  {e['base'][:200]!r}\n"
                  f"  tuned: {e['tuned'][:200]!r}")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
