"""Helpers for tests that train the tiny model: a Stop pressed at an exact step, a process id
that is certainly dead, and a check that LoRA training moved every adapter tensor."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path


class StopAtStep(threading.Event):
    """A Stop button pressed the moment the run's status reports ``step``.

    The training callback asks ``is_set()`` at the end of every step, right after writing the
    step to ``status.json``, so the run stops after exactly ``step`` steps: no thread racing the
    trainer, no sleeps, the same on a fast machine as on a slow one.
    """

    def __init__(self, run, step: int):
        super().__init__()
        self.run, self.step = run, step

    def is_set(self) -> bool:
        if not super().is_set() and self.run.status().get("step", 0) >= self.step:
            self.set()
        return super().is_set()


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped, as a crashed studio leaves one."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def lora_tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(Path(folder) / "adapter_model.safetensors")


def assert_every_lora_tensor_trained(earlier: Path, final: Path, modules: int) -> None:
    """Every LoRA tensor of the adapter in ``final`` was trained, judged against ``earlier`` (a
    checkpoint saved after step 1 or later of the same run).

    PEFT starts every ``lora_B`` at zero and every ``lora_A`` at random values drawn from the
    global RNG, whose state at that moment a test cannot reproduce, so the initial A is unknown.
    Two checks cover both kinds: a ``lora_B`` still all zero never trained; and a tensor that is
    identical at ``earlier`` and at the end received no gradient after ``earlier`` (A's gradient
    flows through B, which is non-zero from step 1 on; the optimizer skips a tensor without a
    gradient entirely, weight decay included, so only a real gradient can move it). ``modules``
    is how many layers carry an adapter: each must have exactly one A and one B.
    """
    import torch

    before, after = lora_tensors(earlier), lora_tensors(final)
    assert set(before) == set(after)
    kinds = sorted(k for k in after if ".lora_A." in k or ".lora_B." in k)
    assert kinds == sorted(after), "the adapter holds tensors that are not LoRA A/B matrices"
    assert len([k for k in kinds if ".lora_A." in k]) == modules
    assert len([k for k in kinds if ".lora_B." in k]) == modules
    zero_b = [k for k, v in after.items() if ".lora_B." in k and not v.abs().sum() > 0]
    assert zero_b == [], f"lora_B tensors never trained: {zero_b}"
    still = [k for k in after if torch.equal(before[k], after[k])]
    assert still == [], f"LoRA tensors that did not move after {Path(earlier).name}: {still}"
