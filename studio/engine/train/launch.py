"""Handing a run to ``accelerate launch``: a child process group for isolated and distributed runs.

The studio does not grow its own distributed engine. For ``launch: isolated`` or ``distributed``
it writes an accelerate config for the form's choices (DDP, FSDP, DeepSpeed ZeRO-2/3, offload,
nodes) into the run's ``launch/`` folder, starts ``accelerate launch ... -m studio.cli worker
RUN`` in a new session, and watches it: rank 0 writes the run folder as an in-process job would
(``studio.engine.train.ranks``), Stop drops the ``launch/STOP`` file every rank sees, and when the
group ends it is killed whole, so no rank outlives its run. A group that dies without rank 0
saying why (a killed rank, a crash inside a library) fails the run with the failed rank's error
or the launcher's last words. DDP on CPUs goes through accelerate's multi-GPU launcher
(torchrun), which runs CPU processes over gloo; its MULTI_CPU mode would need mpirun.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from studio.engine.io import write_atomic
from studio.engine.runs import Run
from studio.engine.train.config import TrainConfig
from studio.engine.train.ranks import LAUNCH_DIR, STOP_FILE

STOP_GRACE_S = 300  # a stopped group saves a checkpoint and the adapter first
POLL_S = 0.5


def processes_per_node(cfg: TrainConfig) -> int:
    """Ranks on this node: one for an isolated run."""
    return cfg.nproc_per_node if cfg.launch == "distributed" else 1


def accelerate_config(cfg: TrainConfig, cuda: bool, port: int | None = None) -> dict:
    """The accelerate config file for ``cfg`` (``cuda``: whether GPUs are used)."""
    nproc = processes_per_node(cfg)
    nodes = cfg.num_nodes if cfg.launch == "distributed" else 1
    out = {"compute_environment": "LOCAL_MACHINE", "distributed_type": "NO",
           "num_processes": nproc * nodes, "num_machines": nodes, "machine_rank": cfg.node_rank,
           "main_process_ip": cfg.main_address, "main_process_port": port or cfg.main_port,
           "rdzv_backend": "static", "same_network": True, "mixed_precision": _precision(cfg, cuda),
           "dynamo_backend": "no", "use_cpu": not cuda, "gpu_ids": "all"}
    if nproc * nodes == 1:
        return out
    if cfg.strategy == "ddp":
        out["distributed_type"] = "MULTI_GPU"  # also right on CPUs: torchrun with gloo
        out["use_cpu"] = False  # accelerate's CPU mode would route through mpirun
    elif cfg.strategy == "fsdp":
        out["distributed_type"] = "FSDP"
        out["fsdp_config"] = {
            "fsdp_version": 2, "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_offload_params": cfg.cpu_offload, "fsdp_reshard_after_forward": True,
            "fsdp_state_dict_type": "FULL_STATE_DICT", "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_use_orig_params": True}  # PEFT needs the original parameters
    else:
        stage = 3 if cfg.strategy == "deepspeed_zero3" else 2
        offload = "cpu" if cfg.cpu_offload else "none"
        out["distributed_type"] = "DEEPSPEED"
        out["deepspeed_config"] = {
            "zero_stage": stage, "offload_optimizer_device": offload,
            "offload_param_device": offload if stage == 3 else "none",
            "gradient_accumulation_steps": cfg.gradient_accumulation,
            "gradient_clipping": cfg.max_grad_norm, "zero3_init_flag": stage == 3,
            "zero3_save_16bit_model": stage == 3}
    return out


def _precision(cfg: TrainConfig, cuda: bool) -> str:
    # On CPUs the model itself is loaded in bf16 (studio.engine.train.prepare); autocast adds
    # nothing there. On GPUs accelerate's mixed precision follows the chosen dtype.
    if not cuda:
        return "no"
    from studio.engine.models import bf16_supported

    if cfg.dtype == "float16":
        return "fp16"
    return "bf16" if cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and bf16_supported()) \
        else "no"


def config_path(run: Run) -> Path:
    return run.path / LAUNCH_DIR / "accelerate.yaml"


def write_config(run: Run, cfg: TrainConfig, cuda: bool, port: int | None = None) -> Path:
    path = config_path(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# Written by Fine-Tune Studio for this run: accelerate launch --config_file THIS\n"
    write_atomic(path, text + yaml.safe_dump(accelerate_config(cfg, cuda, port),
                                             sort_keys=False))
    return path


def command(run: Run, machine_rank: int | None = None, python: str = sys.executable) -> list[str]:
    """The launch command for this node (or, with ``machine_rank``, for another one)."""
    cmd = [python, "-m", "accelerate.commands.launch", "--config_file", str(config_path(run))]
    if machine_rank is not None:
        cmd += ["--machine_rank", str(machine_rank)]
    return cmd + ["-m", "studio.cli", "worker", str(run.path)]


def node_commands(run_path: str, cfg: TrainConfig) -> list[str]:
    """What to run on every other node (the run folder on shared storage, same path)."""
    if cfg.launch != "distributed" or cfg.num_nodes < 2:
        return []
    config = f"{run_path}/{LAUNCH_DIR}/accelerate.yaml"
    return [f"accelerate launch --config_file {shlex.quote(config)} --machine_rank {r} "
            f"-m studio.cli worker {shlex.quote(run_path)}"
            for r in range(cfg.num_nodes) if r != cfg.node_rank]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_launched(run: Run, stop_event: threading.Event, dataset_path: str | None = None) -> str:
    """Train ``run`` in a child process group; returns its final state, as ``run_training``."""
    import torch

    cfg = run.config()
    folder = run.path / LAUNCH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for stale in (folder / STOP_FILE, *folder.glob("rank*-failed.json")):
        stale.unlink(missing_ok=True)  # a resumed run starts with no stop and no old failures
    one_node = cfg.launch != "distributed" or cfg.num_nodes == 1
    write_config(run, cfg, torch.cuda.is_available(), _free_port() if one_node else None)
    cmd = command(run) + (["--dataset", dataset_path] if dataset_path else [])
    run.update_status(state="running", launcher=" ".join(shlex.quote(c) for c in cmd))
    run.log(f"launching: {cmd[2]} {' '.join(cmd[3:])}")
    with open(folder / "launcher.log", "ab") as out:
        group = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                 env=_child_env(cfg), start_new_session=True)
        code = _watch(run, group, stop_event)
    return _final_state(run, code)


def _child_env(cfg: TrainConfig) -> dict:
    env = dict(os.environ)
    share = (os.cpu_count() or 1) // processes_per_node(cfg)
    env.setdefault("OMP_NUM_THREADS", str(max(1, share)))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _watch(run: Run, group: subprocess.Popen, stop_event: threading.Event) -> int:
    stopping_since = None
    try:
        while group.poll() is None:
            if stop_event.is_set() and stopping_since is None:
                (run.path / LAUNCH_DIR / STOP_FILE).touch()
                stopping_since = time.monotonic()
            if stopping_since and time.monotonic() - stopping_since > STOP_GRACE_S:
                break  # it did not stop in time: end it below
            time.sleep(POLL_S)
    finally:
        _kill_group(group)
    return group.returncode if group.returncode is not None else -signal.SIGKILL


def _kill_group(group: subprocess.Popen) -> None:
    """End every process of the group (ranks, the launcher), gently first."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(group.pid, sig)
        except ProcessLookupError:
            break
        try:
            group.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        try:  # the launcher is gone; ranks it left behind are still in the group
            os.killpg(group.pid, 0)
        except ProcessLookupError:
            break


def _final_state(run: Run, code: int) -> str:
    status = run.status()
    state = status.get("state")
    if code == 0 and state in ("completed", "stopped", "failed"):
        return state  # rank 0 said how it ended
    root = _root_cause(run)
    if state == "failed" and (root is None or root[0] == 0):
        return state  # rank 0 failed first and said why
    from studio.engine.errors import Reason

    detail = _failure_detail(run, root, code)
    run.log(f"launched group exited with code {code}: {detail}")
    run.update_status(state="failed", error=str(Reason("launch_failed", {"detail": detail})),
                      ended_at=time.time(), traceback=f"{LAUNCH_DIR}/launcher.log")
    return "failed"


def _root_cause(run: Run) -> tuple[int, str] | None:
    """(rank, how it ended) from torchrun's "Root Cause" summary in the launcher's log."""
    log = run.path / LAUNCH_DIR / "launcher.log"
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
    start = next((i for i, line in enumerate(lines) if "Root Cause" in line), None)
    if start is None:
        return None
    fields = {}
    for line in lines[start:]:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    try:
        rank = int(fields.get("rank", "").split()[0])
    except (IndexError, ValueError):
        return None
    return rank, f"rank {rank} ended with exit code {fields.get('exitcode', '?')}"


def _failure_detail(run: Run, root: tuple[int, str] | None, code: int) -> str:
    """The failed rank's own error when it wrote one, else how it ended, else the exit code."""
    reports = {}
    for path in (run.path / LAUNCH_DIR).glob("rank*-failed.json"):
        found = json.loads(path.read_text(encoding="utf-8"))
        reports[found["rank"]] = f"rank {found['rank']}: {found['error']}"
    if root is not None:
        return reports.get(root[0], root[1])
    if reports:
        return reports[min(reports)]
    return f"the launcher exited with code {code}"
