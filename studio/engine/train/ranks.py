"""Inside a launched run: which process this is, and what each rank may write.

``accelerate launch`` (``studio.engine.train.launch``) starts ``studio worker RUN``
(``studio.cli.worker_cmd``) once per process with ``RANK`` set. Rank 0 owns the run folder
exactly as an in-process job does (status, metrics, samples, log, final weights); every other
rank trains with a ``QuietRun`` that writes nothing the pages read, only its own
``launch/rank<N>.log`` and, if it fails, its error, so the parent can name the rank that broke.
A Stop is a file (``launch/STOP``) every rank sees; the decision to stop is agreed across ranks
at the end of a step (``any_rank``), because a rank that stops alone leaves the others waiting in
their next all-reduce forever.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from studio.engine.io import write_json
from studio.engine.runs import Run

LAUNCH_DIR = "launch"
STOP_FILE = "STOP"


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def sharded() -> bool:
    """FSDP or DeepSpeed: a forward needs every rank, so rank 0 cannot generate alone."""
    return any(os.environ.get(k, "").lower() == "true"
               for k in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED"))


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any (one all-reduce; as is when alone)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def leave_group(finished: bool) -> None:
    """Leave the process group together: a rank that exits while another is still saving
    tears the group down under it (gloo aborts the process). A failed rank just goes; the
    launcher ends the others."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()


class StopFile(threading.Event):
    """Set by the parent's Stop (the file) or in-process (``set``)."""

    def __init__(self, run: Run):
        super().__init__()
        self.path = run.path / LAUNCH_DIR / STOP_FILE

    def is_set(self) -> bool:
        return super().is_set() or self.path.exists()


class QuietRun(Run):
    """A rank other than 0: the run folder stays rank 0's; this rank keeps its own log."""

    def __init__(self, path: Path, number: int):
        super().__init__(Path(path))
        self.number = number

    @property
    def rank_log(self) -> Path:
        return self.path / LAUNCH_DIR / f"rank{self.number}.log"

    def update_status(self, **fields) -> dict:
        if fields.get("state") == "failed":
            write_json(self.path / LAUNCH_DIR / f"rank{self.number}-failed.json",
                       {"rank": self.number, "error": fields.get("error", "")})
        return fields

    def log(self, message: str) -> None:
        with open(self.rank_log, "a", encoding="utf-8") as fh:
            fh.write(message + "\n")

    def append_metric(self, row: dict) -> None:
        pass

    def append_sample(self, row: dict) -> None:
        pass

    def clear_progress(self) -> None:
        pass

    def trim_progress(self, last_step: int) -> None:
        pass

    # Rank 0 keeps the folder's reserve and clears half-written checkpoints: another rank
    # deleting one could race rank 0 still writing it.
    def reserve_space(self) -> None:
        pass

    def release_space(self) -> None:
        pass

    def drop_incomplete_checkpoints(self) -> list[str]:
        return []
