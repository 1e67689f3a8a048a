"""Load: eight scripts polling the read endpoints and one chatting while a run trains.

A team watching a demo means many open pages: each polls the runs list and the run's charts, one
person chats, and the run must go on. Eight ``gradio_client`` sessions poll ``/runs_list`` and
``/run_open`` and a ninth sends chat messages for as long as a tiny-model run trains; every
request must be answered (no error, no "queue full"), and the run must complete with every step
logged once. How much the load slows training is measured by ``benchmarks/load_while_training.py``
(a timed test would only measure this machine's other work).
"""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch
from gradio_client import Client

from studio.engine.runs import RunStore
from studio.engine.workspace import Workspace
from tests.test_chat import make_identity_run
from tests.ui_server import launch_studio

pytestmark = pytest.mark.reliability

POLLERS = 8


def poll_until(url: str, run_id: str, done: threading.Event, answers: list, errors: list):
    client = Client(url, verbose=False)
    while not done.is_set():
        try:
            table, _, _ = client.predict("en", None, api_name="/runs_list")
            header, *_ = client.predict(run_id, "en", api_name="/run_open")
            assert run_id in str(table)
            # A session is sent only what changed since its last poll (a skip otherwise).
            assert run_id in header if isinstance(header, str) else header == {
                "__type__": "update"}
            answers.append(1)
        except Exception as exc:  # collected: a thread's failure must fail the test
            errors.append(f"poll: {exc!r}")


def chat_until(url: str, chat_run: str, done: threading.Event, answers: list, errors: list):
    client = Client(url, verbose=False)
    while not done.is_set():
        try:
            _, right, *_ = client.predict("Who are you?", "side", chat_run, "", "", "", 16, 0,
                                          1, 0, 1, 0, "en", api_name="/chat_send")
            assert right, "the tuned pane stayed empty"
            client.predict(chat_run, "", "side", "en", api_name="/chat_clear")
            answers.append(1)
        except Exception as exc:
            errors.append(f"chat: {exc!r}")


def test_pages_polling_and_chatting_while_a_run_trains(tmp_path, tiny_model_dir, tiny_config):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    ws = Workspace(tmp_path)
    chat_run = make_identity_run(RunStore(ws.runs_dir), tiny_model_dir)
    demo, url = launch_studio(ws)
    done, errors = threading.Event(), []
    polls, chats = [], []
    try:
        cfg = dataclasses.replace(tiny_config, max_steps=40, save_steps=20, probe_steps=0)
        run = demo.studio_ctx.jobs.start(cfg)
        threads = [threading.Thread(target=poll_until, args=(url, run.id, done, polls, errors))
                   for _ in range(POLLERS)]
        threads.append(threading.Thread(target=chat_until,
                                        args=(url, chat_run.id, done, chats, errors)))
        for t in threads:
            t.start()
        demo.studio_ctx.jobs.wait(timeout=600)
        done.set()
        for t in threads:
            t.join(timeout=120)
    finally:
        done.set()
        demo.close()
        torch.set_num_threads(before)
    assert errors == []
    assert len(polls) >= POLLERS and len(chats) >= 1  # every session got answers throughout
    assert run.status()["state"] == "completed"
    steps = [m["step"] for m in run.metrics() if "loss" in m]
    assert steps == sorted(set(steps)) and steps[-1] == 40
