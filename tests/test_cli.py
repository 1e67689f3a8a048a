"""The ``studio`` command: train with --set, list runs, resume, readable errors."""

import subprocess
import sys
from pathlib import Path

from studio.engine.train.config import dump_yaml

ROOT = Path(__file__).resolve().parents[1]


def studio(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "studio.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_train_runs_and_resume(tmp_path, tiny_config):
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(dump_yaml(tiny_config))
    runs = tmp_path / "runs"
    out = studio("train", str(cfg_path), "--set", "name=Orion", "--set", "max_steps=2",
                 "--runs-dir", str(runs))
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("run: ")
    run_dir = Path(last[5:])
    assert (run_dir / "adapter" / "adapter_config.json").exists()
    assert "name: Orion" in (run_dir / "config.yaml").read_text()
    assert "step 2/2" in out.stdout and "state: completed" in out.stdout

    listing = studio("runs", "--runs-dir", str(runs))
    assert run_dir.name in listing.stdout and "completed" in listing.stdout

    again = studio("resume", run_dir.name, "--runs-dir", str(runs))
    assert again.returncode == 2 and "only stopped, interrupted or failed" in again.stderr


def test_errors_are_one_readable_line(tmp_path):
    out = studio("train", str(tmp_path / "missing.yaml"))
    assert out.returncode == 2 and out.stderr.startswith("error: config file not found")
    bad = studio("train", str(ROOT / "presets" / "identity-lora.yaml"), "--set",
                 "learning_rate=-1", "--runs-dir", str(tmp_path))
    assert bad.returncode == 2 and "learning_rate must be > 0.0, got -1.0" in bad.stderr
