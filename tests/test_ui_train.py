"""The Train tab through its API, as gradio_client sees it: preset, check, start, stop, resume.

One studio is launched in-process per module on a free port; the identity preset is loaded,
pointed at the tiny test model and started. Metrics must arrive through ``/poll``, a second start
must be refused naming the busy run, Stop must leave a usable adapter, and Resume must finish the
run. Bad input only ever comes back as a message in the page.
"""

from __future__ import annotations

import time

import pytest

from studio.engine.train.config import TrainConfig
from studio.engine.workspace import PRESETS, Workspace
from studio.ui.train.form import FORM_FIELDS
from tests.ui_server import launch_studio

gradio_client = pytest.importorskip("gradio_client")
IDENTITY = str(PRESETS / "identity-lora.yaml")
INDEX = {name: i for i, name in enumerate(FORM_FIELDS)}


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir, shared_roots):
    ws = Workspace(tmp_path_factory.mktemp("ws"), [*shared_roots, tiny_model_dir.parent])
    demo, url = launch_studio(ws)
    try:
        yield demo.studio_ctx, gradio_client.Client(url, verbose=False)
    finally:
        demo.studio_ctx.jobs.stop()
        demo.studio_ctx.jobs.wait(60)
        demo.close()


def form_values(client, tiny_model_dir, **changes) -> list:
    """The identity preset as the page loads it, pointed at the tiny model and made short."""
    out = client.predict(IDENTITY, "en", api_name="/load_preset")
    values = list(out[: len(FORM_FIELDS)])
    small = {"model": str(tiny_model_dir), "max_steps": 12, "batch_size": 4, "max_length": 128,
             "dtype": "float32", "probe_steps": 6, "probe_prompts": "Who are you?",
             "save_steps": 100}
    for name, value in {**small, **changes}.items():
        values[INDEX[name]] = value
    return values


def poll_until(client, run_id: str, predicate, timeout: float = 60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = client.predict(run_id, "en", api_name="/poll")
        if predicate(out):
            return out
        time.sleep(0.5)
    raise AssertionError(f"poll never satisfied the condition; last: {str(out)[:400]}")


def has_loss(out) -> bool:
    loss = out[2]
    return isinstance(loss, dict) and any(row[2] == "train loss" for row in loss.get("data", []))


def test_load_preset_fills_the_form(studio):
    _, client = studio
    out = client.predict(IDENTITY, "en", api_name="/load_preset")
    assert out[INDEX["name"]] == "Nova" and out[INDEX["finetuning_type"]] == "lora"
    assert "Identity demo" in out[len(FORM_FIELDS)]
    bad = client.predict("/etc/passwd", "en", api_name="/load_preset")
    assert "unknown preset" in bad[-1]


def test_identity_preset_start_live_stop_resume(studio, tiny_model_dir):
    ctx, client = studio
    # Long enough that the run is still training when the second Start and Stop arrive.
    values = form_values(client, tiny_model_dir, max_steps=200, probe_steps=100)
    message, run_id, _ = client.predict(*values, "en", api_name="/start")
    assert run_id and run_id in message
    out = poll_until(client, run_id, has_loss)
    assert f"Run `{run_id}`" in out[0] and "step" in out[1]
    busy = client.predict(*values, "en", api_name="/start")[0]
    assert run_id in busy and "training" in busy  # refused, naming the busy run
    assert "Stopping" in client.predict(run_id, "en", api_name="/stop")
    ctx.jobs.wait(60)
    run = ctx.store.get(run_id)
    assert run.status()["state"] == "stopped"
    assert (run.weights_dir() / "adapter_config.json").exists()  # Stop leaves a usable adapter
    stopped_at = run.status()["step"]
    message, resumed, _ = client.predict(run_id, "en", api_name="/resume")
    assert resumed == run_id and "Resumed" in message
    ctx.jobs.wait(120)
    assert run.status()["state"] == "completed" and run.status()["step"] == 200 > stopped_at
    final = client.predict(run_id, "en", api_name="/poll")
    assert "completed" in final[0] and "100.0%" in final[1]
    assert final[6]["headers"][1] == "Who are you?"  # probe answers, one column per prompt


def test_two_processes_picked_in_the_form_train_and_show_live(studio, tiny_model_dir):
    """How to run -> distributed, 2 processes: the page follows it like any other run."""
    ctx, client = studio
    values = form_values(client, tiny_model_dir, launch="distributed", nproc_per_node=2,
                         max_steps=6, probe_steps=3)
    message, run_id, _ = client.predict(*values, "en", api_name="/start")
    assert run_id and run_id in message
    ctx.jobs.wait(300)
    final = client.predict(run_id, "en", api_name="/poll")
    assert "completed" in final[0] and "100.0%" in final[1] and has_loss(final)
    run = ctx.store.get(run_id)
    assert (run.path / "launch" / "rank1.log").exists()  # the second process trained too
    assert final[6]["headers"][1] == "Who are you?"  # probes, answered by rank 0


def test_check_names_bad_fields_in_both_languages(studio, tiny_model_dir):
    _, client = studio
    values = form_values(client, tiny_model_dir, learning_rate=0, batch_size=0)
    message, estimate = client.predict(*values, "en", api_name="/check")
    assert "- **Learning rate** must be > 0.0, got 0.0 (`learning_rate`)" in message
    assert "- **Batch size** must be >= 1, got 0 (`batch_size`)" in message
    assert estimate == ""
    zh, _ = client.predict(*values, "zh", api_name="/check")
    assert "- **学习率** 必须 > 0.0，当前为 0.0 (`learning_rate`)" in zh


def test_check_gives_an_estimate(studio, tiny_model_dir):
    _, client = studio
    message, estimate = client.predict(*form_values(client, tiny_model_dir), "en",
                                       api_name="/check")
    assert "ready" in message
    assert "63 rows" in estimate and "Steps: 12" in estimate and "GB" in estimate


def test_bad_input_comes_back_as_a_message(studio, tiny_model_dir):
    _, client = studio
    values = form_values(client, tiny_model_dir, dataset="../../etc/passwd")
    message = client.predict(*values, "en", api_name="/start")[0]
    assert "dataset" in message and "outside the workspace" in message
    values = form_values(client, tiny_model_dir, num_epochs="lots")
    assert "num_epochs" in client.predict(*values, "en", api_name="/check")[0]
    assert "No run" in client.predict("", "en", api_name="/resume")[0]


def test_headless_command_and_saved_preset(studio, tiny_model_dir):
    ctx, client = studio
    values = form_values(client, tiny_model_dir, name="Aurora")
    command, yaml_text = client.predict(IDENTITY, *values, api_name="/headless")
    assert command.startswith("studio train presets/identity-lora.yaml")
    assert "--set name=Aurora" in command and "name: Aurora" in yaml_text
    message, _ = client.predict("my recipe", "for tests", *values, "en", api_name="/save_preset")
    saved = ctx.workspace.root / "presets" / "my-recipe.yaml"
    assert saved.exists() and "Saved" in message
    assert saved.read_text().startswith("# for tests")
    again, _ = client.predict("my recipe", "", *values, "en", api_name="/save_preset")
    assert "already exists" in again
    assert TrainConfig().model != values[INDEX["model"]]


def test_buttons_follow_the_runs_state(studio, tiny_model_dir):
    """Start, Stop, Resume and Compare in chat, as each /poll sets them (gradio_client does not
    return button updates, so the poll's own helper is asked with the page's run)."""
    from studio.ui.train.tab import button_states

    ctx, client = studio
    ctx.jobs.wait(120)  # the device is free

    def usable(run_id: str) -> tuple:
        return tuple(update["interactive"] for update in button_states(ctx, run_id))

    assert usable("") == (True, False, False, False)
    values = form_values(client, tiny_model_dir, max_steps=200, probe_steps=100)
    _, run_id, _ = client.predict(*values, "en", api_name="/start")
    poll_until(client, run_id, has_loss)
    assert usable(run_id) == (False, True, False, False)  # only Stop can act
    client.predict(run_id, "en", api_name="/stop")
    ctx.jobs.wait(120)
    assert usable(run_id) == (True, False, True, True)  # start anew, resume, or compare
