"""``studio worker RUN``: one process of a launched run (started by ``accelerate launch``).

Not for people: the Train tab and ``studio train --nproc`` start it through accelerate, once per
rank. Rank 0 writes the run folder; the exit code is non-zero when this rank failed.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("worker", help=argparse.SUPPRESS)
    p.add_argument("run", help="run folder")
    p.add_argument("--dataset", default=None, help="a dataset path resolved by the studio")
    p.set_defaults(func=worker)


def worker(args) -> int:
    from pathlib import Path

    from studio.engine.runs import Run
    from studio.engine.train.job import run_training
    from studio.engine.train.ranks import QuietRun, StopFile, leave_group, rank

    number = rank()
    run = Run(Path(args.run)) if number == 0 else QuietRun(Path(args.run), number)
    state = run_training(run, StopFile(run), args.dataset)
    leave_group(finished=state != "failed")
    # A failed rank must exit non-zero: the launcher then ends the others, which would
    # otherwise wait for it in their next collective.
    return 1 if state == "failed" else 0
