"""The Chat tab through its API (gradio_client): side by side, blind votes, bad picks.

A studio is served on a workspace holding one identity run of the tiny model (a real LoRA
adapter, see ``tests.test_chat.make_identity_run``); each client is one browser session, so the
conversation and the blind A/B order live in its session state as they would in a tab.
"""

from __future__ import annotations

import json

import pytest
import torch

from studio.engine.runs import RunStore
from studio.engine.workspace import Workspace
from tests.test_chat import make_identity_run
from tests.ui_server import launch_studio

gradio_client = pytest.importorskip("gradio_client")
GREEDY = {"max_new": 32, "temperature": 0, "top_p": 1, "top_k": 0, "rep": 1, "seed": 0}
# The untrained tiny base answers greedy questions with blank lines; sampled, it says something.
SAMPLED = {**GREEDY, "temperature": 1.0, "seed": 3}
J_PROMPT = "Q: {question}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}\n\nReply with A or B."


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model is all overhead; a 2nd thread only spins
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    run = make_identity_run(RunStore(ws.runs_dir), tiny_model_dir)
    demo, url = launch_studio(ws)
    try:
        yield ws, url, run.id
    finally:
        demo.close()
        torch.set_num_threads(before)


def ask(client, text, run_id, mode="side", adapter="", **settings):
    s = {**GREEDY, **settings}
    return client.predict(text, mode, run_id, adapter, "", "", s["max_new"], s["temperature"],
                          s["top_p"], s["top_k"], s["rep"], s["seed"], "en",
                          api_name="/chat_send")


def last_answer(pane) -> str:
    content = pane[-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def test_side_by_side_base_and_tuned_differ(studio):
    _, url, run_id = studio
    client = gradio_client.Client(url, verbose=False)
    left, right, box, *_ = ask(client, "Who are you?", run_id)
    assert "Nova" in last_answer(right) and "Nova" not in last_answer(left)
    assert box == ""
    # the second turn continues each pane's own history
    left2, right2, *_ = ask(client, "Who are you?", run_id)
    assert len(left2) == len(right2) == 4


def test_blind_vote_lands_in_preference_file(studio):
    ws, url, run_id = studio
    client = gradio_client.Client(url, verbose=False)
    client.predict(run_id, "", "blind", "en", api_name="/chat_clear")
    a_pane, b_pane, *_ = ask(client, "Who are you?", run_id, mode="blind", **SAMPLED)
    args = (run_id, "", "", "", *SAMPLED.values(), "en")
    note, tally = client.predict(*args, api_name="/chat_vote_a")
    tally = tally["value"] if isinstance(tally, dict) else tally
    note = note["value"] if isinstance(note, dict) else note
    a_side = note.split("A was the **")[1].split("**")[0]
    assert a_side in ("base", "tuned") and "Saved as a preference pair" in note
    expected = "tuned wins 1 · base wins 0" if a_side == "tuned" else "tuned wins 0 · base wins 1"
    assert expected in tally
    rows = [json.loads(x) for x in (ws.datasets_dir / "chat-votes.jsonl").read_text().splitlines()]
    assert rows[-1]["chosen"] == [{"role": "assistant", "content": last_answer(a_pane)}]
    assert rows[-1]["rejected"] == [{"role": "assistant", "content": last_answer(b_pane)}]
    assert rows[-1]["prompt"][-1] == {"role": "user", "content": "Who are you?"}
    assert rows[-1]["run_id"] == run_id and rows[-1]["chosen_model"] == a_side


def test_train_on_my_votes_starts_a_dpo_run_that_shows_reward_charts(studio):
    import time

    ws, url, run_id = studio
    client = gradio_client.Client(url, verbose=False)
    client.predict(run_id, "", "blind", "en", api_name="/chat_clear")
    ask(client, "Who are you?", run_id, mode="blind", **SAMPLED)
    client.predict(run_id, "", "", "", *SAMPLED.values(), "en", api_name="/chat_vote_b")
    message, started = client.predict(run_id, "en", api_name="/chat_train_votes")
    message = message["value"] if isinstance(message, dict) else message
    assert started and f"Started run `{started}`" in message and "votes-" in message
    run = RunStore(ws.runs_dir).get(started)
    deadline = time.time() + 180
    while run.status().get("state") in ("queued", "running") and time.time() < deadline:
        time.sleep(1)
    assert run.status()["state"] == "completed", run.status()
    cfg = run.config()
    assert (cfg.method, cfg.start_from) == ("dpo", run_id)
    out = client.predict(started, "en", api_name="/poll")
    rewards = out[8]  # the method charts follow the header, progress, 4 charts, table and log
    rewards = rewards.get("value", rewards)  # an update that also shows the chart
    series = {row[2] for row in rewards["data"]}
    assert {"chosen", "rejected", "margin"} <= series


def test_train_on_my_votes_without_votes_says_what_to_do(studio):
    _, url, _ = studio
    client = gradio_client.Client(url, verbose=False)
    message, started = client.predict("", "en", api_name="/chat_train_votes")
    message = message["value"] if isinstance(message, dict) else message
    assert "pick the run you voted on" in message and not started


def test_ai_judge_from_the_page_writes_pairs_to_review(studio, tmp_path):
    import time
    from http.server import ThreadingHTTPServer
    from threading import Thread

    from tests.test_feedback import FakeJudge, first_in_order

    ws, url, run_id = studio
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJudge)
    server.decide, server.key, server.requests = first_in_order, "", []
    Thread(target=server.serve_forever, daemon=True).start()
    questions = ws.root / "questions.json"
    questions.write_text(json.dumps([{"instruction": q} for q in ("Hi?", "Who are you?")]))
    client = gradio_client.Client(url, verbose=False)
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1"
        started = client.predict(str(questions), 2, "endpoint", endpoint, "", "grader",
                                 J_PROMPT, run_id, "", "en", api_name="/chat_judge")
        assert "started" in str(started).lower()
        deadline, status = time.time() + 120, ""
        while time.time() < deadline and "Done" not in status:
            status = str(client.predict("en", api_name="/chat_judge_status"))
            time.sleep(0.5)
    finally:
        server.shutdown()
    assert "2/2 questions judged" in status, status
    judged = sorted(ws.datasets_dir.glob("judged-*.jsonl"))
    assert judged and judged[-1].name in status
    rows = [json.loads(line) for line in judged[-1].read_text().splitlines()]
    assert rows and all(r["chosen"][0]["content"] < r["rejected"][0]["content"] for r in rows)
    bad = client.predict(str(questions), 2, "endpoint", "not-a-url", "", "", J_PROMPT, run_id,
                         "", "en", api_name="/chat_judge")
    assert "http://" in str(bad)


def test_bad_adapter_path_shows_clear_message(studio):
    _, url, run_id = studio
    client = gradio_client.Client(url, verbose=False)
    *_, notice = ask(client, "Who are you?", run_id, adapter="no/such/adapter")
    assert "was not found" in (notice["value"] if isinstance(notice, dict) else notice)
