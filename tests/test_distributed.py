"""Runs handed to ``accelerate launch``: 2 CPU processes over gloo, end to end, on the tiny model.

Each test starts the run the way the Train tab does (``JobManager`` on the device arbiter) with
``launch: distributed`` and two processes, and judges it by what a person sees in the run folder:
the loss falls, one adapter, one metrics line per step, Stop reaching both ranks and Resume
continuing, a killed rank failing the run with a reason, and no process left behind. The
generated accelerate configs for the form's choices are checked as snapshots.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace

import psutil
import pytest
import yaml

from studio.engine.errors import ConfigError
from studio.engine.runs import RunStore
from studio.engine.train.config import check
from studio.engine.train.job import JobManager
from studio.engine.train.launch import accelerate_config, config_path, node_commands


def ddp(cfg, **fields):
    return replace(cfg, launch="distributed", nproc_per_node=2, **fields)


def processes_of(run) -> list[psutil.Process]:
    """Live processes working on ``run`` (its ranks, its launcher)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if str(run.path) in " ".join(proc.info["cmdline"] or []) and proc.pid != os.getpid():
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def wait_for_step(run, step: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while run.status().get("step", 0) < step:
        assert time.monotonic() < deadline, run.status()
        assert run.status().get("state") in ("queued", "running"), run.status()
        time.sleep(0.2)


def steps_logged(run) -> list[int]:
    return [m["step"] for m in run.metrics() if "loss" in m]


def test_two_processes_train_like_one_run(tmp_path, tiny_config):
    jobs = JobManager(RunStore(tmp_path / "runs"))
    run = jobs.start(ddp(tiny_config, max_steps=6, probe_steps=3))
    jobs.wait(300)
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    launched = yaml.safe_load(config_path(run).read_text())
    assert launched["distributed_type"] == "MULTI_GPU" and launched["num_processes"] == 2
    assert (run.path / "launch" / "rank1.log").exists()  # a second rank really trained
    losses = [m["loss"] for m in run.metrics() if "loss" in m]
    assert losses[-1] < losses[0]
    assert steps_logged(run) == [1, 2, 3, 4, 5, 6]  # rank 0 alone writes: no line twice
    assert [s["step"] for s in run.samples()] == [0, 3, 6]  # probes answered by rank 0 only
    assert sorted(p.name for p in run.adapter_dir.iterdir() if "adapter" in p.name) == \
        ["adapter_config.json", "adapter_model.safetensors"]
    assert status["pid"] != os.getpid()  # trained outside the studio's process
    assert processes_of(run) == []


def test_stop_reaches_every_rank_and_resume_continues(tmp_path, tiny_config):
    jobs = JobManager(RunStore(tmp_path / "runs"))
    run = jobs.start(ddp(tiny_config, max_steps=400, save_steps=1000, probe_steps=0))
    wait_for_step(run, 2)
    assert len(processes_of(run)) >= 3  # the launcher and two ranks
    assert jobs.stop(run.id)
    jobs.wait(300)
    status = run.status()
    assert status["state"] == "stopped", status.get("error")
    stopped_at = status["step"]
    assert 2 <= stopped_at < 400
    assert (run.adapter_dir / "adapter_model.safetensors").exists()  # Stop keeps an adapter
    assert processes_of(run) == []
    resumed = jobs.resume(run.id)
    wait_for_step(resumed, stopped_at + 2)
    jobs.stop(run.id)
    jobs.wait(300)
    assert run.status()["state"] == "stopped" and run.status()["step"] > stopped_at
    logged = steps_logged(run)
    assert logged == sorted(set(logged)) and logged[-1] == run.status()["step"]


def test_a_killed_rank_fails_the_run_and_leaves_no_process(tmp_path, tiny_config):
    jobs = JobManager(RunStore(tmp_path / "runs"))
    run = jobs.start(ddp(tiny_config, max_steps=400, save_steps=1000, probe_steps=0))
    wait_for_step(run, 1)
    rank1 = [p for p in processes_of(run) if p.environ().get("RANK") == "1"]
    assert len(rank1) == 1
    rank1[0].send_signal(signal.SIGKILL)
    jobs.wait(300)
    status = run.status()
    assert status["state"] == "failed"
    # Named by its rank whether rank 0 noticed the lost peer first or was ended first.
    assert "rank 1 ended with exit code -9" in status["error"], status["error"]
    assert processes_of(run) == []


def test_isolated_runs_in_a_child_process(tmp_path, tiny_config):
    jobs = JobManager(RunStore(tmp_path / "runs"))
    run = jobs.start(replace(tiny_config, launch="isolated", max_steps=2, probe_steps=0))
    jobs.wait(300)
    assert run.status()["state"] == "completed"
    assert run.status()["pid"] != os.getpid()
    assert yaml.safe_load(config_path(run).read_text())["num_processes"] == 1


def test_impossible_launches_are_refused_before_a_run_folder(tmp_path, tiny_config):
    with pytest.raises(ConfigError) as refused:
        check(ddp(tiny_config, strategy="fsdp", num_nodes=2, node_rank=2))
    codes = {r.code for r in refused.value.reasons}
    assert codes == {"launch_strategy_needs_gpu", "launch_node_rank"}
    jobs = JobManager(RunStore(tmp_path / "runs"))
    with pytest.raises(ConfigError):
        jobs.start(ddp(tiny_config, strategy="deepspeed_zero3"))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_generated_accelerate_configs(tiny_config):
    cfg = ddp(tiny_config)
    common = {"compute_environment": "LOCAL_MACHINE", "num_machines": 1, "machine_rank": 0,
              "main_process_ip": "127.0.0.1", "main_process_port": 29500,
              "rdzv_backend": "static", "same_network": True, "dynamo_backend": "no",
              "gpu_ids": "all"}
    assert accelerate_config(cfg, cuda=False) == {
        **common, "distributed_type": "MULTI_GPU", "num_processes": 2, "mixed_precision": "no",
        "use_cpu": False}
    fsdp = accelerate_config(replace(cfg, strategy="fsdp", cpu_offload=True, dtype="bfloat16"),
                             cuda=True)
    assert fsdp["distributed_type"] == "FSDP" and fsdp["mixed_precision"] == "bf16"
    assert fsdp["fsdp_config"]["fsdp_offload_params"] is True
    assert fsdp["fsdp_config"]["fsdp_use_orig_params"] is True
    zero3 = accelerate_config(replace(cfg, strategy="deepspeed_zero3", cpu_offload=True,
                                      gradient_accumulation=4), cuda=True)
    assert zero3["deepspeed_config"] == {
        "zero_stage": 3, "offload_optimizer_device": "cpu", "offload_param_device": "cpu",
        "gradient_accumulation_steps": 4, "gradient_clipping": 1.0, "zero3_init_flag": True,
        "zero3_save_16bit_model": True}
    zero2 = accelerate_config(replace(cfg, strategy="deepspeed_zero2", cpu_offload=True),
                              cuda=True)["deepspeed_config"]
    assert zero2["zero_stage"] == 2 and zero2["offload_param_device"] == "none"
    nodes = replace(cfg, num_nodes=3, main_address="10.0.0.5", main_port=29600)
    many = accelerate_config(nodes, cuda=True, port=None)
    assert (many["num_processes"], many["num_machines"], many["main_process_ip"],
            many["main_process_port"]) == (6, 3, "10.0.0.5", 29600)
    assert node_commands("runs/r1", nodes) == [
        f"accelerate launch --config_file runs/r1/launch/accelerate.yaml --machine_rank {r} "
        f"-m studio.cli worker runs/r1" for r in (1, 2)]
    single = accelerate_config(replace(tiny_config, launch="isolated"), cuda=False)
    assert single["distributed_type"] == "NO" and single["num_processes"] == 1
