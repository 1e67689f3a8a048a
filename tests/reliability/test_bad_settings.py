"""Bad settings are refused before a run folder exists, naming the field, page and shell alike.

Each case goes through the page's API as gradio_client sends it (``/check``, then ``/start``) and
through ``studio train --set``: impossible or conflicting hyperparameters, a max_length past the
model's own limit, a batch that cannot fit this machine's memory, a model that does not exist (a
hub id on this offline machine, a folder that is not there), QLoRA without CUDA, data that cannot
be read or does not suit the method. After every refusal the runs folder has no new entry, the
message names the field, and the server answers the next request. Running a model's own code is
the operator's decision: no request can turn it on, the operator's launch flag does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from studio.engine.train import preflight
from studio.engine.workspace import Workspace
from studio.ui.train.form import FORM_FIELDS
from tests.reliability.faults_support import IDENTITY, ROOT, form_values, run_ids
from tests.ui_server import launch_studio

gradio_client = pytest.importorskip("gradio_client")
pytestmark = pytest.mark.reliability
BROKEN_JSON = '[{"instruction": "hi", "output": "hello"},'  # cut off mid-file
HUB_ID = "nobody/no-such-model"


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("ws")
    (root / "broken.json").write_text(BROKEN_JSON, encoding="utf-8")
    (root / "one-row.json").write_text('[{"instruction": "hi", "output": "hello"}]',
                                       encoding="utf-8")
    ws = Workspace(root, [tiny_model_dir.parent])
    demo, url = launch_studio(ws)
    try:
        yield demo.studio_ctx, gradio_client.Client(url, verbose=False)
    finally:
        demo.studio_ctx.jobs.stop()
        demo.studio_ctx.jobs.wait(60)
        demo.close()


def in_workspace(ctx, name: str) -> str:
    return str(ctx.workspace.root / name)


# (case, form changes, the field the message must name, words it must hold); a callable value
# is given the studio's context (for paths inside its workspace).
CASES = [
    ("negative learning rate", {"learning_rate": -1}, "learning_rate", "> 0.0"),
    ("zero batch", {"batch_size": 0}, "batch_size", ">= 1"),
    ("warmup over half", {"warmup_ratio": 0.9}, "warmup_ratio", "<= 0.5"),
    ("packing with dpo", {"method": "dpo", "packing": "on"}, "packing", "dpo"),
    ("eval steps without held-out rows", {"eval_steps": 2}, "eval_steps", "val_fraction"),
    ("val fraction with one row", {"val_fraction": 0.2, "max_samples": 1}, "val_fraction",
     "only 1 usable row"),
    ("max length past the model's limit", {"max_length": 4096}, "max_length", "512 tokens"),
    ("freeze more layers than the model has", {"finetuning_type": "freeze",
                                               "freeze_trainable_layers": 5},
     "freeze_trainable_layers", "2 layers"),
    ("a hub id on an offline machine", {"model": HUB_ID}, "model", HUB_ID),
    ("a model folder that is not there", {"model": lambda ctx: in_workspace(ctx, "no-model")},
     "model", "not found"),
    ("data that cannot be read", {"dataset": lambda ctx: in_workspace(ctx, "broken.json")},
     "dataset", "broken.json"),
    ("a dataset that is not there", {"dataset": "datasets/missing.json"}, "dataset",
     "not found"),
    ("conversations for dpo", {"method": "dpo"}, "dataset", "no chosen/rejected pairs"),
]


def refused_everywhere(ctx, client, values, field: str, words: str) -> None:
    """/check and /start both refuse ``values`` naming ``field``; no run folder appears; the
    server then answers the next request."""
    before = run_ids(ctx.store.root)
    listed = client.predict("en", None, api_name="/runs_list")[0]["data"]
    message, estimate = client.predict(*values, "en", api_name="/check")
    assert f"(`{field}`)" in message and words in message, message
    assert estimate == ""
    started = client.predict(*values, "en", api_name="/start")[0]
    assert f"(`{field}`)" in started and words in started, started
    assert run_ids(ctx.store.root) == before  # nothing was created for a run that cannot start
    # The server answers the next request, and its Runs list holds no new run.
    assert client.predict("en", None, api_name="/runs_list")[0]["data"] == listed


@pytest.mark.parametrize("case,changes,field,words", CASES, ids=[c[0] for c in CASES])
def test_bad_settings_are_refused_before_a_run_exists(studio, tiny_model_dir, case, changes,
                                                      field, words):
    ctx, client = studio
    changes = {k: v(ctx) if callable(v) else v for k, v in changes.items()}
    refused_everywhere(ctx, client, form_values(client, tiny_model_dir, **changes), field, words)


def test_a_batch_that_cannot_fit_this_machine_is_refused(studio, tiny_model_dir, monkeypatch):
    ctx, client = studio
    # The machine's memory is pinned (8 GB of CPU memory) so the case is the same on any host;
    # 1024 packed rows of 512 tokens need ~16 GB even with gradient checkpointing.
    monkeypatch.setattr(preflight, "machine_memory", lambda: (8 * 10**9, "CPU"))
    values = form_values(client, tiny_model_dir, batch_size=1024, max_length=512, packing="on")
    refused_everywhere(ctx, client, values, "batch_size", "8.0 GB of CPU memory")
    small = form_values(client, tiny_model_dir, batch_size=4, max_length=512, packing="on")
    assert "ready" in client.predict(*small, "en", api_name="/check")[0]  # a batch that fits


def test_qlora_without_cuda_is_refused(studio, tiny_model_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: QLoRA is allowed")
    ctx, client = studio
    values = form_values(client, tiny_model_dir, finetuning_type="qlora")
    refused_everywhere(ctx, client, values, "finetuning_type", "CUDA")


def studio_cli(*args):
    return subprocess.run([sys.executable, "-m", "studio.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


CLI_CASES = [
    ("conflicting hyperparameters", ["learning_rate=-1", "batch_size=0", "warmup_ratio=0.9",
                                     "method=dpo", "packing=on"],
     ["learning_rate must be > 0.0", "batch_size must be >= 1", "warmup_ratio must be <= 0.5",
      "packing cannot be used with dpo"]),
    ("max length past the model's limit", ["max_length=4096"],
     ["max_length 4096 is above the limit", "512 tokens"]),
    ("a hub id on an offline machine", [f"model={HUB_ID}"], [f"model: Model '{HUB_ID}'"]),
    ("data that cannot be read", ["dataset={broken}"], ["dataset: ", "broken.json"]),
]


@pytest.mark.parametrize("case,sets,words", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_the_shell_refuses_the_same_settings_before_a_run_exists(tmp_path, tiny_model_dir, case,
                                                                 sets, words):
    broken = tmp_path / "broken.json"
    broken.write_text(BROKEN_JSON, encoding="utf-8")
    runs = tmp_path / "runs"
    args = ["train", IDENTITY, "--runs-dir", str(runs), "--set", f"model={tiny_model_dir}"]
    for item in sets:
        args += ["--set", item.format(broken=broken)]
    out = studio_cli(*args)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr
    for word in words:
        assert word in out.stderr, out.stderr
    assert run_ids(runs) == set()  # no run folder (not even the runs folder) for a refusal


# ------------------------------------------------------------------- remote code: operator-only
def test_no_request_can_turn_remote_code_on(studio, tiny_model_dir):
    ctx, client = studio
    assert "trust_remote_code" not in FORM_FIELDS
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in ("/check", "/start", "/save_preset", "/headless"):
        labels = " ".join(str(p.get("label")) for p in api[name]["parameters"]).lower()
        assert "remote code" not in labels and "trust" not in labels, name
    # A preset file that asks for it fills the form without it: the run does not trust the model.
    asking = ctx.workspace.root / "presets" / "remote-code.yaml"
    asking.parent.mkdir(exist_ok=True)
    preset = yaml.safe_load(Path(IDENTITY).read_text(encoding="utf-8"))
    asking.write_text(yaml.safe_dump({**preset, "trust_remote_code": True}), encoding="utf-8")
    loaded = client.predict(str(asking), "en", api_name="/load_preset")[: len(FORM_FIELDS)]
    assert len(loaded) == len(FORM_FIELDS)
    assert not started_config(ctx, client, tiny_model_dir)["trust_remote_code"]


def test_the_operators_flag_turns_remote_code_on_for_that_model(studio, tiny_model_dir):
    ctx, client = studio
    ctx.workspace.remote_code_models = frozenset({str(tiny_model_dir)})  # --trust-remote-code
    try:
        assert started_config(ctx, client, tiny_model_dir)["trust_remote_code"] is True
    finally:
        ctx.workspace.remote_code_models = frozenset()
    assert not started_config(ctx, client, tiny_model_dir)["trust_remote_code"]


def started_config(ctx, client, tiny_model_dir) -> dict:
    """Start a two-step run from the form and return its config.yaml once it has finished."""
    values = form_values(client, tiny_model_dir, max_steps=2)
    message, run_id, _ = client.predict(*values, "en", api_name="/start")
    assert run_id and run_id in message, message
    ctx.jobs.wait(120)
    run = ctx.store.get(run_id)
    assert run.status()["state"] == "completed", run.status()
    return yaml.safe_load((run.path / "config.yaml").read_text(encoding="utf-8"))
