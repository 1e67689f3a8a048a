"""``studio train CONFIG [--set k=v ...]`` and ``studio resume RUN``: headless training.

Runs the same job the Train tab starts, after the same preflight, in the foreground, printing
one progress line per logged step read back from the run folder, then (when the config asks for
it) the forgetting check's verdict, and ends with ``run: <run folder>`` so scripts can find it.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from studio.cli import runs_dir_option
from studio.engine.runs import Run, RunStore
from studio.engine.train.config import load_yaml, with_overrides
from studio.engine.train.preflight import check_ready
from studio.engine.train.presets import find_preset
from studio.engine.workspace import Workspace, default_root


def register(sub) -> None:
    p = sub.add_parser("train", help="fine-tune from a YAML config or preset")
    p.add_argument("config", help="a YAML file (a preset, a run's config.yaml) or a preset's "
                   "name, shipped or saved from the Train tab")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set name=Nova (repeatable)")
    runs_dir_option(p, "where run folders go")
    p.add_argument("--workspace", default=None,
                   help="where saved presets are looked up (default: the studio's workspace)")
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="train on N processes through accelerate launch (launch=distributed)")
    p.add_argument("--strategy", default=None, choices=["ddp", "fsdp", "deepspeed_zero2",
                                                        "deepspeed_zero3"],
                   help="with --nproc: how the processes share the model (default ddp)")
    p.set_defaults(func=train)
    r = sub.add_parser("resume", help="continue a stopped or interrupted run")
    r.add_argument("run", help="run id or run folder")
    runs_dir_option(r)
    r.set_defaults(func=resume)


def train(args) -> int:
    config = find_preset(Workspace(args.workspace or default_root()), args.config)
    sets = list(args.set)
    if args.nproc:
        sets += ["launch=distributed", f"nproc_per_node={args.nproc}"]
    if args.strategy:
        sets.append(f"strategy={args.strategy}")
    # The same preflight as the Train tab's Start: a run that cannot start (a missing model, a
    # max_length past the model's limit, unreadable data, too little memory) leaves no folder.
    cfg = check_ready(with_overrides(load_yaml(config), sets))
    run = RunStore(args.runs_dir).create(cfg, label=Path(config).stem)
    return _follow(run)


def resume(args) -> int:
    from studio.engine.train.job import ensure_resumable

    run = RunStore(args.runs_dir).resolve(args.run)
    RunStore(run.path.parent).mark_interrupted()
    ensure_resumable(run)
    return _follow(run)


def _follow(run: Run) -> int:
    """Train in a worker thread and print progress from the run folder, as the UI reads it."""
    from studio.engine.scoring import forgetting
    from studio.engine.train.job import train_run  # heavy (torch, TRL): only when training

    stop = threading.Event()
    result: list[str] = []
    forgetting.before_training(run)
    worker = threading.Thread(target=lambda: result.append(train_run(run, stop)), daemon=True)
    worker.start()
    printed = 0
    try:
        while worker.is_alive():
            worker.join(1.0)
            printed = _print_new_metrics(run, printed)
    except KeyboardInterrupt:
        print("stopping after the current step (Ctrl-C again to abort)...", file=sys.stderr)
        stop.set()
        worker.join()
    _print_new_metrics(run, printed)
    status = run.status()
    print(f"state: {status.get('state')}" + (f" ({status['error']})" if status.get("error")
                                              else ""))
    for sample in run.samples()[-1:]:
        for a in sample["answers"]:
            print(f"probe: {a['prompt']} -> {a['answer']}")
    _check_forgetting(forgetting.after_training(run, status.get("state", "")))
    print(f"run: {run.path}")
    return 0 if status.get("state") in ("completed", "stopped") else 1


def _check_forgetting(job) -> None:
    """The run's forgetting check in the foreground (Ctrl-C skips it; the run is done)."""
    from studio.engine.scoring.forgetting import read_record, summary_line

    if job is None:
        return
    print("forgetting check: scoring the base and the tuned model on the same questions...",
          flush=True)
    try:
        job.work()
    except KeyboardInterrupt:
        job.stop()
    print(summary_line(read_record(job.run) or {"state": "skipped"}), flush=True)


def _print_new_metrics(run: Run, printed: int) -> int:
    rows = run.metrics()
    total = run.status().get("total_steps") or "?"
    for row in rows[printed:]:
        parts = [f"{k}={row[k]:.4g}" for k in ("loss", "eval_loss", "lr", "tokens_per_s")
                 if k in row]
        print(f"step {row['step']}/{total} " + " ".join(parts) + f" ({row['elapsed_s']:.0f}s)",
              flush=True)
    return len(rows)


