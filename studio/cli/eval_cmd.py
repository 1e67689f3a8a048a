"""``studio eval``: score a model, or a fine-tune's adapter, on MMLU, C-Eval or CMMLU.

Prints per-subject and overall accuracy and, with ``--output``, writes the full result JSON
(per-question predictions and log-probabilities). With ``--adapter`` naming a run, the result is
also saved under that run's ``eval/`` folder, where the Scoring tab shows its history.
"""

from __future__ import annotations

import argparse
import sys

from studio.cli import runs_dir_option
from studio.engine.io import write_json
from studio.engine.scoring.data import BENCHMARKS
from studio.engine.scoring.loading import DTYPES
from studio.engine.scoring.prompts import FORMATS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="score a model on MMLU, C-Eval or CMMLU",
        description="Score a model (optionally with a fine-tune's adapter) on a benchmark.")
    p.add_argument("--benchmark", required=True, choices=sorted(BENCHMARKS))
    p.add_argument("--data-dir", default=None,
                   help="folder in the benchmark's official layout (default: the hub copy)")
    p.add_argument("--model", default=None,
                   help="model id or folder (default: the base model of --adapter's run)")
    p.add_argument("--adapter", default=None, help="run id, run folder or adapter folder")
    runs_dir_option(p, "where run ids are looked up")
    p.add_argument("--subjects", default=None, help="comma-separated subject keys (default: all)")
    p.add_argument("--split", default=None,
                   help="split to score (default: test; val for C-Eval, whose test has no answers)")
    p.add_argument("--shots", type=int, default=5, choices=range(6), metavar="0-5")
    p.add_argument("--format", default="plain", choices=FORMATS)
    p.add_argument("--limit", type=int, default=None, help="first N questions per subject")
    p.add_argument("--dtype", default="auto", choices=DTYPES)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--output", default=None, help="write the result JSON to this file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio.engine.runs import run_of
    from studio.engine.scoring.evaluate import evaluate, plan
    from studio.engine.scoring.loading import load_for_eval, resolve_adapter
    from studio.engine.scoring.results import save_result

    subjects = [s.strip() for s in args.subjects.split(",") if s.strip()] if args.subjects else None
    plan(args.benchmark, args.data_dir, subjects, args.split, args.shots, args.limit)  # fail fast
    model, tokenizer = load_for_eval(args.model, args.adapter, args.dtype, args.runs_dir)
    meta = {"model": args.model or "", "adapter": args.adapter or "",
            "label": "tuned" if args.adapter else "base"}

    def progress(done, total, subject):
        print(f"\r{done}/{total} {subject:<40}", end="", file=sys.stderr, flush=True)

    result = evaluate(model, tokenizer, args.benchmark, args.data_dir, subjects, args.split,
                      args.shots, args.format, args.limit, args.batch_size, progress, meta=meta)
    print(file=sys.stderr)
    print_result(result)
    if args.output:
        write_json(args.output, result, indent=1)
        print(f"wrote {args.output}")
    if args.adapter:
        run = run_of(resolve_adapter(args.adapter, args.runs_dir)[0])
        if run is not None:  # a run's adapter: keep the run's score history
            print(f"saved {save_result(result, run.eval_dir, 'tuned')}")
    return 0


def print_result(result: dict) -> None:
    print(f"{'subject':<45} {'category':<16} {'n':>5} {'acc':>7}")
    for key, s in result["subjects"].items():
        print(f"{key:<45} {s['category']:<16} {s['n']:>5} {100 * s['acc']:>6.1f}%")
    for name, c in result["categories"].items():
        print(f"{'[' + name + ']':<45} {'':<16} {c['n']:>5} {100 * c['acc']:>6.1f}%")
    o = result["overall"]
    stopped = "  (stopped early)" if result.get("stopped") else ""
    print(f"{'overall':<45} {'':<16} {o['n']:>5} {100 * o['acc']:>6.1f}%{stopped}")
