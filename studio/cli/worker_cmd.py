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
    from studio.engine.train.ranks import run_rank

    return run_rank(args.run, args.dataset)
