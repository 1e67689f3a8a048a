"""``studio runs``: list every run with its state, model, data, duration and final loss."""

from __future__ import annotations

from studio.cli import runs_dir_option
from studio.engine.runs import RunStore


def register(sub) -> None:
    p = sub.add_parser("runs", help="list runs")
    runs_dir_option(p)
    p.set_defaults(func=list_runs)


def list_runs(args) -> int:
    store = RunStore(args.runs_dir)
    store.mark_interrupted()
    rows = [r.summary() for r in store.list()]
    if not rows:
        print(f"no runs in {store.root}")
        return 0
    print(f"{'run':40} {'state':11} {'steps':>9} {'loss':>7} {'time':>7}  model / dataset")
    for s in rows:
        steps = f"{s['step']}/{s['total_steps']}"
        loss = f"{s['final_loss']:.3f}" if s["final_loss"] is not None else "-"
        dur = f"{s['duration_s']:.0f}s" if s["duration_s"] is not None else "-"
        print(f"{s['id']:40} {s['state']:11} {steps:>9} {loss:>7} {dur:>7}  "
              f"{s['model']} / {s['dataset']}")
    return 0
