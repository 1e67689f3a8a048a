"""The Runs tab through its API: list, open, compare, clone, delete, and interrupted runs.

The run folders are written directly (the contract the job also writes), so no training is
needed: one completed run, one with a different learning rate, and one left ``running`` by a
process that no longer exists, which the studio must show as ``interrupted`` with Resume offered.
"""

from __future__ import annotations

import dataclasses

import pytest

from studio.engine.runs import RunStore
from studio.engine.workspace import Workspace
from studio.ui.train.form import FORM_FIELDS
from tests.ui_server import launch_studio

gradio_client = pytest.importorskip("gradio_client")
DEAD_PID = 2**22 + 12345  # above Linux's default pid_max, so never a live process


def fake_run(store: RunStore, cfg, state: str, losses: list[float], pid: int | None = None):
    run = store.create(cfg)
    for step, loss in enumerate(losses, 1):
        run.append_metric({"step": step, "elapsed_s": step * 1.5, "loss": loss, "lr": 1e-3,
                           "grad_norm": 0.5, "tokens_per_s": 900.0})
    run.append_sample({"step": len(losses), "answers": [{"prompt": "Who are you?",
                                                          "answer": "I am Nova."}]})
    run.log("training: fake")
    run.update_status(state=state, step=len(losses), total_steps=len(losses) + 2,
                      started_at=1000.0, ended_at=1000.0 + 1.5 * len(losses), elapsed_s=9.0,
                      **({"pid": pid} if pid else {}))
    return run.id


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    from studio.engine.train.config import TrainConfig

    ws = Workspace(tmp_path_factory.mktemp("ws"))
    store = RunStore(ws.runs_dir)
    base = TrainConfig(name="Nova")
    ids = {"done": fake_run(store, dataclasses.replace(base, run_name="a"), "completed",
                            [2.0, 1.5, 1.0]),
           "other": fake_run(store, dataclasses.replace(base, run_name="b", learning_rate=5e-4),
                             "completed", [2.1, 1.9, 1.7]),
           "crashed": fake_run(store, dataclasses.replace(base, run_name="c"), "running",
                               [2.0], pid=DEAD_PID)}
    demo, url = launch_studio(ws)
    try:
        yield demo.studio_ctx, gradio_client.Client(url, verbose=False), ids
    finally:
        demo.close()


def test_list_shows_every_run_and_interrupted_ones(studio):
    _, client, ids = studio
    table, pick, _ = client.predict("en", None, api_name="/runs_list")
    assert table["headers"][:3] == ["Run", "Status", "Model"]
    states = {row[0]: row[1] for row in table["data"]}
    assert set(ids.values()) <= set(states)
    assert "interrupted" in states[ids["crashed"]] and "completed" in states[ids["done"]]
    zh, _, _ = client.predict("zh", None, api_name="/runs_list")
    assert zh["headers"][1] == "状态"


def test_open_shows_charts_config_files_and_resume(studio):
    _, client, ids = studio
    out = client.predict(ids["crashed"], "en", api_name="/run_open")
    header, progress, loss, *_ = out
    assert "interrupted" in header and "Resume" in progress
    # after the live view's 8 values and its 3 method charts (the Resume button's visibility is
    # not an API output)
    config, files = out[11], out[12]
    assert "name: Nova" in config and "metrics.jsonl" in files
    done = client.predict(ids["done"], "en", api_name="/run_open")
    assert len([r for r in done[2]["data"] if r[2] == "train loss"]) == 3
    assert done[6]["data"][0][1] == "I am Nova." and "completed" in done[0]


def test_compare_overlays_runs_and_diffs_configs(studio):
    _, client, ids = studio
    overlay, diff = client.predict([ids["done"], ids["other"]], "en", api_name="/runs_compare")
    assert {row[2] for row in overlay["data"]} == {ids["done"], ids["other"]}
    fields = {row[0] for row in diff["data"]}
    assert "Learning rate" in fields and "Model" not in fields


def test_clone_fills_the_train_form(studio):
    _, client, ids = studio
    out = client.predict(ids["other"], "en", api_name="/run_clone")
    assert ids["other"] in out[0]
    assert out[1 + FORM_FIELDS.index("learning_rate")] == 5e-4
    assert "Pick a run" in client.predict(None, "en", api_name="/run_clone")[0]


def test_delete_removes_the_run_folder(studio):
    ctx, client, ids = studio
    victim = ctx.store.create(ctx.store.get(ids["done"]).config())
    victim.update_status(state="completed")
    message = client.predict(victim.id, "en", api_name="/run_delete")
    assert "Deleted" in message[-1] if isinstance(message, tuple) else "Deleted" in message
    assert not victim.path.exists()
