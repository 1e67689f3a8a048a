"""The ``studio`` command: train with --set, list runs, resume, readable errors, and the
README's documented `studio runs` / `studio export RUN OUT` lines run as written."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.engine.train.config import dump_yaml

ROOT = Path(__file__).resolve().parents[1]


def in_workspace(folder) -> dict:
    """The environment of a shell whose studio workspace is ``folder`` (the commands' default
    runs/ is the workspace's)."""
    return {**os.environ, "STUDIO_WORKSPACE": str(folder)}


def studio(*args, cwd=ROOT):
    env = in_workspace(cwd) if cwd != ROOT else None
    return subprocess.run([sys.executable, "-m", "studio.cli", *args], cwd=cwd, env=env,
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


def test_readme_runs_and_export_lines_work_as_documented(tmp_path, tiny_config):
    """`studio runs` and `studio export RUN OUT`, exactly as the README's command list shows
    them, from a folder whose runs/ holds one finished tiny run."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.engine.runs import RunStore
    from studio.engine.train.job import run_training
    from tests.readme import as_python, documented_usage

    # The workspace's runs/ is the commands' default, as it is the page's.
    run = RunStore(tmp_path / "runs").create(tiny_config)
    assert run_training(run) == "completed"

    runs = documented_usage("runs")
    assert runs == ["studio", "runs"]  # no arguments: it reads the workspace's runs/
    listing = subprocess.run(as_python(runs), cwd=tmp_path, capture_output=True, text=True,
                             timeout=600, env=in_workspace(tmp_path))
    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header.split()[:3] == ["run", "state", "steps"]
    assert len(rows) == 1 and rows[0].split()[:3] == [run.id, "completed", "4/4"]

    export = documented_usage("export")
    assert export == ["studio", "export", "RUN", "OUT"]
    argv = [{"RUN": run.id, "OUT": "exported"}.get(word, word) for word in export]
    out = subprocess.run(as_python(argv), cwd=tmp_path, capture_output=True, text=True,
                         timeout=600, env=in_workspace(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "exported: exported"
    exported = tmp_path / "exported"
    assert not (exported / "adapter_config.json").exists()  # a plain model, LoRA merged in
    model = AutoModelForCausalLM.from_pretrained(exported)  # plain transformers, no studio
    tokenizer = AutoTokenizer.from_pretrained(exported)
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Who are you?"}],
                                        add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)["input_ids"]
    assert model(input_ids=ids).logits.shape[-1] == len(tokenizer)


def test_train_finds_a_preset_saved_in_the_workspace_by_name(tmp_path, tiny_config):
    """A preset saved from the Train tab trains from a shell by its name alone."""
    from studio.engine.train.presets import save_preset
    from studio.engine.workspace import Workspace

    saved = save_preset(Workspace(tmp_path), "tiny recipe",
                        tiny_config.__class__(**{**tiny_config.__dict__, "max_steps": 1}))
    out = studio("train", "tiny-recipe", "--workspace", str(tmp_path), "--runs-dir",
                 str(tmp_path / "runs"))
    assert out.returncode == 0, out.stderr
    assert "state: completed" in out.stdout and saved.name == "tiny-recipe.yaml"
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.endswith("-tiny-recipe")  # named after the preset, as in the Train tab
    unknown = studio("train", "no-such-recipe", "--workspace", str(tmp_path))
    assert unknown.returncode == 2 and "config file not found: no-such-recipe" in unknown.stderr


def test_export_gguf_push_and_serve_refusals_from_a_shell(tmp_path, tiny_config, monkeypatch):
    from studio.engine.runs import RunStore
    from studio.engine.train.job import run_training

    run = RunStore(tmp_path / "runs").create(tiny_config)
    assert run_training(run) == "completed"
    out = studio("export", run.id, "--format", "gguf", "--quant", "f16", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    gguf = tmp_path / "exports" / run.id / f"{run.id}-f16.gguf"
    assert out.stdout.splitlines()[0] == f"exported: {gguf.relative_to(tmp_path)}"
    assert "ollama create" in out.stdout and gguf.read_bytes()[:4] == b"GGUF"
    again = studio("export", run.id, "--format", "gguf", "--quant", "f16", cwd=tmp_path)
    assert again.stdout.startswith("already exported:")  # nothing written twice
    monkeypatch.delenv("HF_TOKEN", raising=False)
    push = studio("push", run.id, "me/tiny", cwd=tmp_path)
    assert push.returncode == 2 and "token" in push.stderr.lower()
    serve = studio("serve", "--host", "0.0.0.0", cwd=tmp_path)
    assert serve.returncode == 2 and "API key" in serve.stderr


@pytest.mark.parametrize("method", ["kto", "orpo", "simpo", "grpo"])
def test_every_preference_method_trains_from_the_cli(tmp_path, tiny_config, method):
    """DPO trains from the CLI above through the presets; the other methods the same way."""
    import json

    pairs = [{"prompt": q, "chosen": "I am Nova.", "rejected": "I am a model."}
             for q in ("Who are you?", "Your name?", "Who made you?", "Hi!")]
    (tmp_path / "pairs.json").write_text(json.dumps(pairs))
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(dump_yaml(tiny_config))
    rules = ["--set", "reward_length_words=3", "--set", "reward_length_weight=1",
             "--set", "grpo_generations=2", "--set", "grpo_max_completion=6"]
    out = studio("train", str(cfg_path), "--set", f"method={method}", "--set",
                 f"dataset={tmp_path / 'pairs.json'}", "--set", "max_steps=2", "--set",
                 "batch_size=2", "--set", "probe_steps=0", "--set", "max_length=48",
                 *(rules if method == "grpo" else []), "--runs-dir", str(tmp_path / "runs"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "state: completed" in out.stdout
    run_dir = Path(out.stdout.strip().splitlines()[-1][5:])
    metrics = (run_dir / "metrics.jsonl").read_text()
    assert ("rewards/length/mean" if method == "grpo" else "rewards/chosen") in metrics
