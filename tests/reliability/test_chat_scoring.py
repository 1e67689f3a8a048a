"""Chat and scoring faults through the page's own API: each ends with a clear message, the server
answers the next request, and nothing a person had is changed.

One studio serves a workspace with a finished identity run of the tiny model. Stop ends a chat
stream and a scoring job promptly (the device is free again and partial scores are labelled
partial); a fault mid-answer, a damaged run and a prompt longer than the model's context each get
a message naming what is wrong; an adapter whose ``adapter_config.json`` points its base model
outside the workspace is refused in the chat, the Scoring tab and the Deploy tab. Slow or failing
models are made by wrapping one engine function (``monkeypatch``), since the tiny model answers
faster than a person can press Stop.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time

import pytest

from studio.engine.chat import decode
from studio.engine.scoring import job as scoring_job
from studio.engine.scoring import score
from tests.reliability.chat_support import (
    answer_of,
    ask,
    copy_adapter,
    damage,
    fingerprint,
    kept,
    notice_of,
    served_studio,
    submit,
)
from tests.test_chat import make_identity_run

pytestmark = pytest.mark.reliability
gradio_client = pytest.importorskip("gradio_client")
EXAM = "assets/sample-exam/en"


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir):
    with served_studio(tmp_path_factory.mktemp("ws"), tiny_model_dir, spares=3) as served:
        yield served


@pytest.fixture()
def client(studio):
    return gradio_client.Client(studio.url, verbose=False)


def answered(client, studio) -> None:
    """The server still answers: the tuned pane says the run's new name (asked in a fresh
    session, so what a failed or stopped turn left in the history cannot sway it)."""
    fresh = gradio_client.Client(studio.url, verbose=False)
    out = ask(fresh, "Who are you?", studio.run_id)
    assert "Nova" in answer_of(out[1]) and notice_of(out) == ""


def slow_down(monkeypatch, module, name: str, seconds: float) -> None:
    original = getattr(module, name)

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, slow)


# ---------------------------------------------------------------------------- chat


def test_stop_ends_a_chat_stream_promptly_and_the_next_message_is_answered(studio, client,
                                                                           monkeypatch):
    before = fingerprint(studio.ws.runs_dir)
    slow_down(monkeypatch, decode, "_step", 0.03)  # ~400 tokens would take 12 s
    job = submit(client, "Tell me a long story.", studio.run_id)
    deadline = time.monotonic() + 60
    while len(job.outputs()) < 3:  # tokens are streaming
        assert time.monotonic() < deadline and not job.done(), "the answer never streamed"
        time.sleep(0.05)
    asked = time.monotonic()
    client.predict(api_name="/chat_stop")
    final = job.result(timeout=30)
    assert time.monotonic() - asked < 10, "Stop did not end the stream promptly"
    assert "Stopped." in final[4]
    written = [int(n) for n in re.findall(r"(\d+) tokens", final[4])]
    assert written and max(written) < 400
    monkeypatch.undo()
    answered(client, studio)
    assert kept(before, fingerprint(studio.ws.runs_dir)) == {}


def test_a_fault_mid_answer_shows_the_reason_and_the_next_message_is_answered(studio, client,
                                                                              monkeypatch):
    original, steps = decode._step, []

    def failing(*args, **kwargs):  # what a GPU fault looks like a few tokens into an answer
        steps.append(1)
        if len(steps) > 3:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return original(*args, **kwargs)

    monkeypatch.setattr(decode, "_step", failing)
    out = ask(client, "Tell me a story.", studio.run_id, max_new=64, temperature=1.0)
    message = notice_of(out)
    assert "The answer stopped on an error" in message and "illegal memory access" in message
    assert out[2] == "Tell me a story."  # the question stays in the box, ready to send again
    monkeypatch.undo()
    answered(client, studio)


@pytest.mark.parametrize("spare, how, expected", [
    (0, "deleted", "saved no adapter or model folder"),
    (1, "tokenizer", "tokenizer saved with"),
    (2, "weights", "cannot be read"),
])
def test_a_damaged_run_is_explained_and_the_good_run_still_answers(studio, client, spare, how,
                                                                   expected):
    run = studio.spares[spare]  # listed on the page before it broke
    damage(run.path, how)
    before = fingerprint(run.path)
    out = ask(client, "Who are you?", run.id)
    assert expected in notice_of(out), notice_of(out)
    assert kept(before, fingerprint(run.path)) == {}  # nothing "repaired" or written
    answered(client, studio)


@pytest.mark.parametrize("size", ["1 MB", "past the context"])
def test_a_prompt_too_long_for_the_model_is_refused_naming_the_limit(studio, client, size):
    text = "x" * 1_000_000 if size == "1 MB" else "Who are you? " * 300
    started = time.monotonic()
    out = ask(client, text, studio.run_id)
    assert time.monotonic() - started < 60
    message = notice_of(out)
    assert "reads at most 512 tokens" in message and "Shorten the message" in message
    assert answer_of(out[1]) == ""  # nothing was written for it
    answered(client, studio)


# ---------------------------------------------------------------------------- foreign bases


@pytest.fixture(params=["elsewhere", "/etc"])
def outside_adapter(request, studio, tmp_path, tiny_model_dir):
    """An adapter copied into the workspace whose config names a base model outside it: a real
    model folder (loading it would work if it were allowed), or a system folder."""
    elsewhere = shutil.copytree(tiny_model_dir, tmp_path / "elsewhere")
    base = str(elsewhere) if request.param == "elsewhere" else request.param
    run_adapter = studio.ctx.store.get(studio.run_id).adapter_dir
    name = f"adapters/outside-{tmp_path.name}"
    copy_adapter(run_adapter, studio.ws.root / name, base=base)
    return name, elsewhere


def test_a_chat_adapter_whose_base_is_outside_the_workspace_is_refused(studio, client,
                                                                       outside_adapter,
                                                                       tiny_model_dir):
    name, elsewhere = outside_adapter
    before = fingerprint(studio.ws.root / name)
    for model in ("", str(tiny_model_dir)):  # its own base, or another one picked beside it
        message = notice_of(ask(client, "Who are you?", adapter=name, model=model))
        assert "names a base model that cannot be loaded" in message, message
        assert "is outside the workspace" in message
    assert str(elsewhere) not in json.dumps(studio.ctx.chat_engine.loaded())
    assert kept(before, fingerprint(studio.ws.root / name)) == {}
    answered(client, studio)


def test_adapters_whose_base_is_vouched_for_still_chat(studio, tmp_path, tiny_model_dir):
    # A folder whose base lies in an allowed root, and a run of the store typed as a path: its
    # base was the operator's choice (here a model outside the workspace), checked at training.
    name = f"adapters/inside-{tmp_path.name}"
    run_adapter = studio.ctx.store.get(studio.run_id).adapter_dir
    copy_adapter(run_adapter, studio.ws.root / name, base=str(tiny_model_dir))
    operators = make_identity_run(studio.ctx.store, shutil.copytree(tiny_model_dir,
                                                                    tmp_path / "operators"))
    for adapter in (name, f"runs/{operators.id}/adapter", f"runs/{operators.id}"):
        fresh = gradio_client.Client(studio.url, verbose=False)  # a new conversation each
        out = ask(fresh, "Who are you?", adapter=adapter)
        assert "Nova" in answer_of(out[1]), (adapter, notice_of(out))


def test_scoring_and_deploy_refuse_a_base_outside_the_workspace(studio, client, outside_adapter,
                                                                tiny_model_dir):
    name, elsewhere = outside_adapter
    before = fingerprint(elsewhere)
    picked = [["general_science"], [], [], []]
    client.predict("mmlu", EXAM, "all", "en", api_name="/scoring_subjects")
    for model in ("", str(tiny_model_dir)):
        message, job_id, *_ = client.predict("mmlu", EXAM, 0, "plain", 2, "float32", model, name,
                                             "", "en", *picked, api_name="/scoring_start")
        assert job_id == "" and "names a base model that cannot be loaded" in message, message
    # The Deploy tab takes a typed model like any page: only inside the allowed folders.
    message, files = client.predict(str(elsewhere), "gguf", "q8_0", "en",
                                    api_name="/deploy_export")
    assert "outside the workspace" in message and files is None
    status, *_ = client.predict(str(elsewhere), "127.0.0.1", 8000, "", "en",
                                api_name="/deploy_serve_start")
    assert "outside the workspace" in status and studio.ctx.server is None
    assert not (studio.ws.root / "exports" / elsewhere.name).exists()
    assert kept(before, fingerprint(elsewhere)) == {}
    answered(client, studio)


# ---------------------------------------------------------------------------- scoring Stop


@pytest.fixture()
def long_exam(studio):
    """The sample exam's science subject repeated to 64 questions (8 batches), in the workspace."""
    folder = studio.ws.root / "exams" / "long"
    if not folder.exists():
        sample = studio.ws.resolve(EXAM)
        shutil.copytree(sample, folder)
        path = folder / "test" / "general_science_test.csv"
        path.write_text(path.read_text(encoding="utf-8") * 8, encoding="utf-8")
    return "exams/long"


def start_scoring(client, model: str, exam: str, limit: int = 0):
    client.predict("mmlu", exam, "all", "en", api_name="/scoring_subjects")
    return client.predict("mmlu", exam, 0, "plain", limit, "float32", model, None, "", "en",
                          ["general_science"], [], [], [], api_name="/scoring_start")


def poll(client, job_id: str, until, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = client.predict(job_id, None, "en", api_name="/scoring_poll")
        if until(out[0]):
            return out
        time.sleep(0.2)
    raise AssertionError(f"scoring never reached the state asked for: {out[0]}")


def scored(progress: str) -> int:
    found = re.search(r"(\d+)/\d+", progress)
    return int(found.group(1)) if found else 0


def test_stop_ends_a_scoring_job_with_partial_scores_and_frees_the_device(studio, client,
                                                                          long_exam, monkeypatch,
                                                                          tiny_model_dir):
    before = fingerprint(studio.ws.root / long_exam)
    slow_down(monkeypatch, score, "_last_logprobs", 0.25)  # 8 batches: 2 s unless stopped
    message, job_id, *_ = start_scoring(client, str(tiny_model_dir), long_exam)
    assert "Scoring 64 questions" in message, message
    poll(client, job_id, lambda p: scored(p) >= 8)
    asked = time.monotonic()
    assert "Stopping" in client.predict(job_id, "en", api_name="/scoring_stop")
    progress, table, chart, history = poll(client, job_id, lambda p: "Stopped" in p)[:4]
    assert time.monotonic() - asked < 15
    assert "partial, not final" in progress and scored(progress) < 64
    partial = f"{tiny_model_dir.name} (partial)"
    assert partial in table["headers"]
    assert {row[3] for row in chart["data"]} == {partial}
    assert partial in [row[5] for row in history["data"]]
    saved = [json.loads(p.read_text(encoding="utf-8"))
             for p in (studio.ws.root / "eval").glob("mmlu-test-0shot-*.json")]
    assert [(r["stopped"], r["overall"]["n"] < 64) for r in saved] == [(True, True)]
    # The device is free: a new job starts at once and ends with final scores.
    assert studio.ctx.device.active() is None
    monkeypatch.undo()
    message, job_id, *_ = start_scoring(client, str(tiny_model_dir), long_exam, limit=8)
    assert "Scoring 8 questions" in message, message
    progress, table, *_ = poll(client, job_id, lambda p: "Done" in p)
    assert table["headers"][-1] == tiny_model_dir.name and "partial" not in progress
    assert kept(before, fingerprint(studio.ws.root / long_exam)) == {}


def test_a_scoring_job_stopped_before_its_first_answer_shows_and_saves_no_score(
        studio, client, long_exam, monkeypatch, tiny_model_dir):
    loading, go = threading.Event(), threading.Event()
    original = scoring_job.load_for_eval

    def held(*args, **kwargs):  # Stop arrives while the model is still loading
        loading.set()
        go.wait(30)
        return original(*args, **kwargs)

    monkeypatch.setattr(scoring_job, "load_for_eval", held)
    saved_before = set((studio.ws.root / "eval").glob("*.json"))
    _, job_id, *_ = start_scoring(client, str(tiny_model_dir), long_exam)
    assert loading.wait(30)
    client.predict(job_id, "en", api_name="/scoring_stop")
    go.set()
    progress, table, chart, _ = poll(client, job_id, lambda p: "Stopped" in p)[:4]
    assert "0/64" in progress and not chart["data"]
    assert len(table["headers"]) == 3  # level, name, questions: no model column, no 0 %
    assert set((studio.ws.root / "eval").glob("*.json")) == saved_before
    answered(client, studio)
