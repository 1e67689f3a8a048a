"""The two feedback loops on the tiny model: chat votes become a DPO run that continues the run
voted on, and the AI judge turns sampled answers into pairs, asked through a fake
OpenAI-compatible endpoint this test serves on loopback."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio.engine.chat.engine import ChatEngine
from studio.engine.chat.votes import BlindPair, preference_path, record_vote
from studio.engine.errors import JudgeError, VoteError
from studio.engine.feedback import judge as J
from studio.engine.feedback.from_votes import votes_config
from studio.engine.runs import RunStore
from studio.engine.train.job import run_training
from studio.engine.workspace import Workspace


@pytest.fixture()
def finished_sft(tmp_path, tiny_config):
    workspace = Workspace(tmp_path / "ws")
    store = RunStore(workspace.runs_dir)
    run = store.create(dataclasses.replace(tiny_config, max_steps=2, probe_steps=0,
                                           save_steps=2, probe_prompts=[]))
    assert run_training(run) == "completed"
    return workspace, store, run


def _vote(workspace, run_id: str, question: str, tuned: str, base: str, vote="a"):
    return record_vote(workspace, vote, BlindPair("tuned", "base"),
                       [{"role": "user", "content": question}],
                       {"tuned": tuned, "base": base}, {"run_id": run_id})


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_votes_train_a_dpo_run_that_continues_the_voted_run(finished_sft):
    workspace, store, sft = finished_sft
    _vote(workspace, sft.id, "Who are you?", "I am Nova.", "I am an AI.")
    _vote(workspace, sft.id, "Your name?", "Nova, by Acme Lab.", "I have no name.")
    _vote(workspace, "some-other-run", "Hi?", "Hello!", "Bye.")
    votes_file = preference_path(workspace)
    before = _digest(votes_file)
    cfg, path = votes_config(workspace, store, sft.id)
    assert (cfg.method, cfg.start_from, cfg.model) == ("dpo", sft.id, sft.config().model)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["prompt"][-1]["content"] for r in rows] == ["Who are you?", "Your name?"]
    assert cfg.probe_prompts == ["Who are you?", "Your name?"]
    again, second = votes_config(workspace, store, sft.id)
    assert second != path and path.exists()  # a new file: an edited copy is never overwritten
    cfg = dataclasses.replace(cfg, max_steps=2, save_steps=2, probe_steps=0, dtype="float32")
    run = store.create(cfg)
    assert run_training(run, dataset_path=str(path)) == "completed", run.status()
    assert any("rewards/margins" in m for m in run.metrics())
    assert "starting from" in run.log_path.read_text()
    assert _digest(votes_file) == before  # the votes themselves are left as they were


def test_votes_refused_without_votes_or_a_finished_run(finished_sft):
    workspace, store, sft = finished_sft
    with pytest.raises(VoteError, match="no decisive votes"):
        votes_config(workspace, store, sft.id)
    with pytest.raises(VoteError, match="pick the run"):
        votes_config(workspace, store, "")


# ------------------------------------------------------------------------------- the judge
class FakeJudge(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat completions endpoint whose verdict is set per server."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.headers.get("Authorization"), body))
        if self.server.key and self.headers.get("Authorization") != f"Bearer {self.server.key}":
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b'{"error": "bad key"}')
            return
        text = body["messages"][0]["content"]
        reply = self.server.decide(text)
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(out.encode())

    def log_message(self, *args):
        pass


def first_in_order(prompt: str) -> str:
    """A fair judge with a taste anyone can check: the answer that sorts first wins, whichever
    position it is shown in."""
    a = re.search(r"Answer A:\n(.*)\n\nAnswer B:", prompt, re.S).group(1)
    b = re.search(r"Answer B:\n(.*)\n\nReply with", prompt, re.S).group(1)
    return "A, it reads better." if a < b else "B, it reads better."


@pytest.fixture()
def endpoint():
    servers = []

    def serve(decide, key=""):
        server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJudge)
        server.decide, server.key, server.requests = decide, key, []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield serve
    for server in servers:
        server.shutdown()


def _questions(tmp_path):
    rows = [{"instruction": q} for q in ("Who are you?", "What is 2+2?", "Name a color.")]
    path = tmp_path / "questions.json"
    path.write_text(json.dumps(rows))
    return str(path)


def test_judge_keeps_the_pairs_a_fair_judge_agrees_on_both_ways(tmp_path, tiny_model_dir,
                                                                 endpoint):
    server, url = endpoint(first_in_order, key="sk-test")
    spec = J.JudgeSpec(dataset=_questions(tmp_path), model=str(tiny_model_dir),
                       judge="endpoint", url=url, api_key="sk-test", judge_model="grader",
                       max_new_tokens=12)
    judging = J.Judging(spec, ChatEngine(dtype="float32"), tmp_path / "judged.jsonl")
    assert judging.run() == 3 == judging.kept
    rows = [json.loads(line) for line in (tmp_path / "judged.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert row["chosen"][0]["content"] < row["rejected"][0]["content"]
        assert row["judge"] == "grader"
    assert len(server.requests) == 6  # each question judged in both orders
    assert {auth for auth, _ in server.requests} == {"Bearer sk-test"}
    assert server.requests[0][1]["model"] == "grader"


def test_judge_drops_a_verdict_that_flips_with_the_order(tmp_path, tiny_model_dir, endpoint):
    _, url = endpoint(lambda prompt: "A")  # always the first answer: position bias only
    spec = J.JudgeSpec(dataset=_questions(tmp_path), model=str(tiny_model_dir),
                       judge="endpoint", url=url, max_new_tokens=12)
    judging = J.Judging(spec, ChatEngine(dtype="float32"), tmp_path / "judged.jsonl")
    assert judging.run() == 0 and judging.done == 3
    assert not (tmp_path / "judged.jsonl").exists()


def test_judge_endpoint_problems_are_named(tmp_path, tiny_model_dir, endpoint):
    _, url = endpoint(first_in_order, key="right")
    spec = J.JudgeSpec(dataset=_questions(tmp_path), model=str(tiny_model_dir),
                       judge="endpoint", url=url, api_key="wrong", max_new_tokens=8)
    with pytest.raises(JudgeError, match="HTTP 401"):
        J.Judging(spec, ChatEngine(dtype="float32"), tmp_path / "j.jsonl").run()
    gone = dataclasses.replace(spec, url="http://127.0.0.1:9/v1")
    with pytest.raises(JudgeError, match="could not be reached"):
        J.Judging(gone, ChatEngine(dtype="float32"), tmp_path / "j.jsonl").run()
    assert [r.code for r in J.JudgeSpec(dataset="x", judge="endpoint", url="ftp://x",
                                        grading_prompt="{question}").problems()] == [
        "judge_url", "judge_prompt_slots"]


def test_verdict_reads_the_letter_a_judge_opens_with():
    assert J.verdict("B. The second one is clearer.") == "B"
    assert J.verdict("Answer A is better") == "A"
    assert J.verdict("Neither is good.") is None
