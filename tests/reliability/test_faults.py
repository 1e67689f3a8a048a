"""Faults during a run, through the real interfaces: each ends with a clear message, a server that
answers the next request, no run left looking "running", and nothing the user made lost.

The page closes mid-run (the run trains on and completes); Stop lands inside a step (the adapter
it saves loads with peft); the server is SIGKILLed after the run's first checkpoint and started
again (the run is listed interrupted and Resume on the Runs tab finishes it, each step logged
once); a training step raises (the run fails with the message on the page, never a traceback or
a server path, and the next run trains); the disk fills up while a checkpoint is saved (the run
fails saying so, the earlier checkpoint and the run's files are whole); two browser sessions act
at once (one run starts, the other is told which run is busy; one preset name, one preset).
"""

from __future__ import annotations

import json
import threading

import pytest
import yaml

from studio.engine.runs import ACTIVE, Run
from studio.engine.train.config import load_yaml
from studio.engine.workspace import Workspace
from tests.reliability.faults_support import (
    StudioProcess,
    finished,
    form_values,
    on_step,
    poll_until,
    run_ids,
    small_disk,
)
from tests.ui_server import launch_studio

gradio_client = pytest.importorskip("gradio_client")
pytestmark = pytest.mark.reliability


def new_client(url):
    return gradio_client.Client(url, verbose=False)


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir):
    ws = Workspace(tmp_path_factory.mktemp("ws"), [tiny_model_dir.parent])
    demo, url = launch_studio(ws)
    try:
        yield demo.studio_ctx, url, new_client(url)
    finally:
        demo.studio_ctx.jobs.stop()
        demo.studio_ctx.jobs.wait(60)
        demo.close()


def start(client, values) -> str:
    message, run_id, _ = client.predict(*values, "en", api_name="/start")
    assert run_id and run_id in message, message
    return run_id


def settled(run: Run) -> dict:
    """The run's status once its job is over: never left queued or running."""
    status = run.status()
    assert status["state"] not in ACTIVE, status
    return status


def shows_no_server_internals(out, *paths) -> None:
    text = json.dumps(out, ensure_ascii=False, default=str)
    assert "Traceback" not in text
    for path in paths:
        assert str(path) not in text


# ------------------------------------------------------------------- the page goes away
def test_closing_the_page_mid_run_leaves_the_run_training(studio, tiny_model_dir):
    ctx, url, _ = studio
    page = new_client(url)
    run_id = start(page, form_values(page, tiny_model_dir, name="Closed", max_steps=8))
    assert ctx.store.get(run_id).status()["state"] in ACTIVE  # closed while it trains
    page.close()
    ctx.jobs.wait(120)
    again = new_client(url)  # the person opens the studio again
    out = poll_until(again, run_id, finished)
    assert "completed" in out[0] and "100.0%" in out[1]
    run = ctx.store.get(run_id)
    assert settled(run)["step"] == 8 and run.weights_dir() is not None
    assert run.config().name == "Closed"  # the run is the one the person started


def test_stop_inside_a_step_saves_an_adapter_peft_loads(studio, tiny_model_dir, monkeypatch):
    ctx, _, client = studio
    inside, pressed = threading.Event(), threading.Event()

    def second_step(step):
        if step == 2:
            inside.set()
            pressed.wait(60)  # Stop arrives while this step is under way

    on_step(monkeypatch, second_step)
    run_id = start(client, form_values(client, tiny_model_dir, max_steps=50))
    assert inside.wait(120)
    assert "Stopping" in client.predict(run_id, "en", api_name="/stop")
    pressed.set()
    ctx.jobs.wait(120)
    run = ctx.store.get(run_id)
    status = settled(run)
    assert status["state"] == "stopped" and status["step"] == 2  # the step in hand finished
    assert run.last_checkpoint().name == "checkpoint-2"

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    tuned = PeftModel.from_pretrained(base, run.adapter_dir)
    logits = tuned(input_ids=torch.tensor([[1, 5, 9]])).logits
    assert logits.shape[:2] == (1, 3) and torch.isfinite(logits).all()


# ------------------------------------------------------------------- the server dies
def test_a_killed_server_finds_the_run_interrupted_and_resume_finishes_it(tmp_path,
                                                                        tiny_model_dir):
    ws = tmp_path / "ws"
    ws.mkdir()
    first = StudioProcess(ws, tiny_model_dir.parent, tmp_path, hold_at_step=5)
    try:
        client = new_client(first.url())
        run_id = start(client, form_values(client, tiny_model_dir, max_steps=8, save_steps=3))
        first.wait_for(first.held_file)  # parked inside step 5: checkpoint-3 is saved
        run = Run(ws / "runs" / run_id)
        assert run.last_checkpoint().name == "checkpoint-3"
        first.kill()
    finally:
        first.stop()
    assert run.status()["state"] == "running"  # what a killed process leaves behind

    second = StudioProcess(ws, tiny_model_dir.parent, tmp_path)
    try:
        client = new_client(second.url())
        table = client.predict("en", None, api_name="/runs_list")[0]
        (row,) = [r for r in table["data"] if r[0] == run_id]
        assert "interrupted" in row[1]
        message = client.predict(run_id, "en", api_name="/run_resume")[0]
        assert "Resumed" in message and run_id in message
        out = poll_until(client, run_id, finished, timeout=180)
        assert "completed" in out[0] and "100.0%" in out[1]
        status = settled(run)
        assert status["step"] == status["total_steps"] == 8
        steps = [m["step"] for m in run.metrics() if "loss" in m]
        assert steps == list(range(1, 9))  # steps 4 and 5 redone, each drawn once
        assert "resuming from checkpoint-3" in run.log_path.read_text(encoding="utf-8")
    finally:
        second.stop()


# ------------------------------------------------------------------- the job fails
def test_a_step_that_raises_fails_the_run_with_a_message_and_the_next_run_trains(
        studio, tiny_model_dir, monkeypatch):
    ctx, _, client = studio

    def broken(step):
        if step == 2:
            raise RuntimeError("a fault injected into step 2")

    on_step(monkeypatch, broken)
    run_id = start(client, form_values(client, tiny_model_dir))
    ctx.jobs.wait(120)
    out = poll_until(client, run_id, finished)
    assert "failed" in out[0]
    assert "Training stopped with an error: RuntimeError: a fault injected into step 2" in out[1]
    assert "FAILED: Training stopped with an error" in out[7]  # the log view says it too
    shows_no_server_internals(out, ctx.workspace.root, tiny_model_dir, ctx.store.root)
    run = ctx.store.get(run_id)
    assert settled(run)["state"] == "failed"
    assert "Traceback" in run.log_path.read_text(encoding="utf-8")  # kept for the operator

    monkeypatch.undo()
    opened = client.predict(run_id, "en", api_name="/run_open")  # the Runs tab shows it
    assert "failed" in opened[0]
    # Its live view and files, not its config (which holds the model the person typed).
    shows_no_server_internals([*opened[:8], opened[9]], ctx.workspace.root, tiny_model_dir,
                              ctx.store.root)
    next_id = start(client, form_values(client, tiny_model_dir, max_steps=2))
    ctx.jobs.wait(120)
    assert settled(ctx.store.get(next_id))["state"] == "completed"


@pytest.fixture()
def full_disk_studio(tmp_path, tiny_model_dir):
    """A studio whose runs folder is an 800 kB disk: the tiny run's first checkpoint (~0.5 MB)
    fits beside the run's files, a second one does not."""
    with small_disk(tmp_path / "disk", "800k") as disk:
        ws = Workspace(tmp_path / "ws", [tiny_model_dir.parent])
        ws.root.mkdir()
        demo, url = launch_studio(ws, runs_dir=disk / "runs")
        try:
            yield demo.studio_ctx, new_client(url)
        finally:
            demo.studio_ctx.jobs.stop()
            demo.studio_ctx.jobs.wait(60)
            demo.close()


def test_a_disk_that_fills_up_mid_checkpoint_fails_the_run_and_keeps_what_was_saved(
        full_disk_studio, tiny_model_dir):
    ctx, client = full_disk_studio
    run_id = start(client, form_values(client, tiny_model_dir, max_steps=20, save_steps=2))
    ctx.jobs.wait(120)
    out = poll_until(client, run_id, finished)
    assert "failed" in out[0] and "disk holding the run folder is full" in out[1]
    run = ctx.store.get(run_id)
    status = settled(run)
    assert status["state"] == "failed" and status["step"] >= 2
    # The checkpoint saved before the disk filled is whole, and Resume would start from it.
    assert run.last_checkpoint().name == "checkpoint-2"
    saved = run.checkpoints_dir / "checkpoint-2"
    assert json.loads((saved / "trainer_state.json").read_text())["global_step"] == 2
    from safetensors.torch import load_file

    assert load_file(saved / "adapter_model.safetensors")
    assert [p.name for p in run.checkpoints_dir.glob("checkpoint-*")] == ["checkpoint-2"]
    # The run's own files parse whole: none was left half-written by the full disk.
    assert json.loads((run.path / "status.json").read_text())["state"] == "failed"
    assert yaml.safe_load((run.path / "config.yaml").read_text())["save_steps"] == 2
    assert load_yaml(run.path / "config.yaml").max_steps == 20
    table = client.predict("en", None, api_name="/runs_list")[0]  # the server still answers
    assert [r[1] for r in table["data"] if r[0] == run_id] == ["✗ failed"]


# ------------------------------------------------------------------- two sessions at once
def test_two_sessions_pressing_start_together_start_one_run(studio, tiny_model_dir):
    ctx, url, _ = studio
    before = run_ids(ctx.store.root)
    pages = [new_client(url), new_client(url)]
    values = form_values(pages[0], tiny_model_dir, max_steps=2000)  # still training at the end
    jobs = [page.submit(*values, "en", api_name="/start") for page in pages]
    answers = [job.result(timeout=120) for job in jobs]
    try:
        started = [a for a in answers if isinstance(a[1], str) and a[1]]  # a run id came back
        assert len(started) == 1, answers
        run_id = started[0][1]
        (busy,) = [a[0] for a in answers if a is not started[0]]
        assert f"Run {run_id} is training on this device" in busy
        assert run_ids(ctx.store.root) - before == {run_id}
        for page in pages:  # both sessions see the same one run
            assert run_id in [r[0] for r in page.predict("en", None,
                                                         api_name="/runs_list")[0]["data"]]
            assert run_id in page.predict(run_id, "en", api_name="/poll")[0]
    finally:
        ctx.jobs.stop()
        ctx.jobs.wait(120)
    assert settled(ctx.store.get(run_id))["state"] == "stopped"


def test_two_sessions_saving_one_preset_name_get_one_preset(studio, tiny_model_dir,
                                                            monkeypatch):
    from studio.engine.train import presets

    ctx, url, _ = studio
    # Both saves are held right after their check for the name and before their write: the
    # moment two sessions clicking at once can both be in.
    meet = threading.Barrier(2, timeout=20)
    dump = presets.dump_yaml

    def held_dump(*args, **kwargs):
        try:
            meet.wait()
        except threading.BrokenBarrierError:  # the server ran them one after the other
            pass
        return dump(*args, **kwargs)

    monkeypatch.setattr(presets, "dump_yaml", held_dump)
    pages = [new_client(url), new_client(url)]
    jobs = [page.submit("race", f"saved by page {i}", *form_values(page, tiny_model_dir),
                        "en", api_name="/save_preset") for i, page in enumerate(pages)]
    messages = sorted(job.result(timeout=60)[0] for job in jobs)
    assert "already exists" in messages[0] and "choose another name" in messages[0]
    assert messages[1].startswith("Saved as presets/race.yaml")  # a workspace path, not the disk
    saved = ctx.workspace.root / "presets" / "race.yaml"
    assert load_yaml(saved).model == str(tiny_model_dir)  # one whole file, by one page
    assert [p.name for p in saved.parent.iterdir() if "race" in p.name] == ["race.yaml"]
