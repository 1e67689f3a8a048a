"""Probes that cost little and lie about nothing, and a live view that costs training little.

All probe prompts are answered in one batched greedy ``generate`` call on the tiny model; the
answers must be the ones each prompt gets alone, token for token. The seconds a probe round takes
are recorded (``probe_s`` in ``samples.jsonl``, a log line, the progress bar) and kept out of the
training clock: a probe made artificially slow must not lower the tokens/s of the step it
follows, and the first step a process logs is marked as warm-up so the throughput chart does not
start with its pace. The live view redraws its charts at most every few seconds while a run
trains, and says when a poll found nothing new (the Train tab then polls less often).
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM

from studio.engine.models import load_tokenizer
from studio.engine.runs import RunStore
from studio.engine.train.callbacks import RunFolderCallback
from studio.engine.train.job import run_training
from studio.ui import charts

PROMPTS = ["Who are you?", "你是谁？", "Tell me who you are, in many more words than that", "A"]


@pytest.fixture()
def chatty(tiny_model_dir, one_thread):
    """The tiny model with larger random weights, so greedy answers differ by prompt and token
    (the stock tiny model answers every prompt with newlines, which would prove nothing)."""
    tokenizer = load_tokenizer(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.2)
    return model.eval(), tokenizer


def alone(model, tokenizer, prompt: str, system: str = "", plain: bool = False) -> str:
    """The reference: one prompt, no padding, greedy, as a person would call ``generate``."""
    return tokenizer.decode(alone_tokens(model, tokenizer, prompt, system, plain),
                            skip_special_tokens=True).strip()


def alone_tokens(model, tokenizer, prompt: str, system: str = "", plain: bool = False) -> list:
    messages = [{"role": "user", "content": prompt}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    enc = (tokenizer(prompt, return_tensors="pt") if plain else
           tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                         return_tensors="pt", return_dict=True))
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=48, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    return out[0, enc["input_ids"].shape[1]:].tolist()


def callback(tokenizer, **kw) -> RunFolderCallback:
    return RunFolderCallback(None, threading.Event(), tokenizer, PROMPTS, 0, **kw)


@pytest.mark.parametrize("kw", [{}, {"system_prompt": "You are Nova."}, {"plain": True}],
                         ids=["chat", "system", "plain"])
def test_batched_answers_equal_one_by_one_greedy_answers(chatty, kw):
    model, tokenizer = chatty
    batched = callback(tokenizer, **kw).answer_all(model, PROMPTS)
    one_by_one = [alone(model, tokenizer, p, kw.get("system_prompt", ""), kw.get("plain", False))
                  for p in PROMPTS]
    assert batched == one_by_one
    assert len(set(batched)) == len(PROMPTS)  # the answers differ, so the check means something


def test_an_answer_that_ends_early_is_cut_where_it_would_end_alone(chatty):
    """One answer reaches its end token while the others go on: the batch pads it from there,
    and what is shown must still be exactly the answer generated alone."""
    model, tokenizer = chatty
    first = alone_tokens(model, tokenizer, PROMPTS[0])
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = first[3]  # answer 0 now ends by its 4th token
    try:
        batched = callback(tokenizer).answer_all(model, PROMPTS)
        one_by_one = [alone(model, tokenizer, p) for p in PROMPTS]
    finally:
        model.generation_config.eos_token_id = saved
    assert batched == one_by_one
    assert len(batched[0]) < len(batched[2])


@pytest.fixture()
def one_thread(monkeypatch):
    """One torch thread: the tiny model is all overhead, and a second thread waiting on a core
    someone else holds makes its steps slow and uneven."""
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # speed.configure_threads leaves it alone then
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def slow_probes(monkeypatch, one_thread):
    """Every probe round takes at least one more second, as on a slow machine."""
    real = RunFolderCallback.answer_all

    def slow(self, model, prompts, **kw):
        time.sleep(1.0)
        return real(self, model, prompts, **kw)

    monkeypatch.setattr(RunFolderCallback, "answer_all", slow)


def test_slow_probes_leave_tokens_per_s_and_training_time_alone(tmp_path, tiny_config,
                                                                 slow_probes):
    cfg = dataclasses.replace(tiny_config, max_steps=8, probe_steps=4, save_steps=100)
    run = RunStore(tmp_path).create(cfg)
    assert run_training(run) == "completed", run.status()
    rows = [r for r in run.metrics() if "loss" in r]
    assert [r.get("warmup", False) for r in rows] == [True] + [False] * 7
    paces = {r["step"]: r["tokens_per_s"] for r in rows if not r.get("warmup")}
    usual = statistics.median(v for k, v in paces.items() if k not in (4, 8))
    # Counted as training, a 1 s probe in a tiny-model step would cut its pace many times over.
    for probed in (4, 8):
        assert paces[probed] > usual / 3, (probed, paces)
    samples = run.samples()
    assert [s["step"] for s in samples] == [0, 4, 8]
    assert all(1.0 <= s["probe_s"] < 10.0 for s in samples), samples
    last = rows[-1]
    assert last["elapsed_s"] - last["train_s"] >= 3.0  # three rounds, each at least 1 s
    status = run.status()
    assert status["elapsed_s"] - status["train_s"] >= 2.0  # the last round follows the status
    assert run.log_path.read_text().count("probes answered in") == 3


def test_the_throughput_chart_leaves_out_the_warm_up_step():
    rows = [{"step": 1, "loss": 2.0, "tokens_per_s": 50.0, "warmup": True},
            {"step": 2, "loss": 1.5, "tokens_per_s": 900.0},
            {"step": 3, "loss": 1.2, "tokens_per_s": 950.0}]
    assert charts.metric_frame(rows, "tokens_per_s", "t/s")["step"].tolist() == [2, 3]
    assert charts.metric_frame(rows, "loss", "loss")["step"].tolist() == [1, 2, 3]


def test_the_progress_bar_says_how_much_of_the_time_probes_took():
    texts = {"state": "running", "step": "step", "elapsed": "elapsed", "eta": "remaining",
             "probes": "of it probes"}
    status = {"state": "running", "step": 4, "total_steps": 8, "elapsed_s": 30.0,
              "train_s": 20.0}
    assert "elapsed 0:30 · of it probes 0:10 · remaining" in charts.progress_html(status, texts)
    assert "probes" not in charts.progress_html({**status, "train_s": 30.0}, texts)
    assert "probes" not in charts.progress_html({**status, "train_s": None}, texts)


# ---------------------------------------------------------------------------- the live view
@pytest.fixture()
def watched(workspace, tiny_config, monkeypatch):
    """A studio context and a run it sees training (rows appended by the test), with a clock
    the test moves."""
    import os

    from studio.engine.runs import process_started
    from studio.ui.context import StudioContext
    from studio.ui.train import live

    ctx = StudioContext.create(workspace)
    run = ctx.store.create(tiny_config)
    run.update_status(state="running", pid=os.getpid(), pid_started=process_started(), step=0,
                      total_steps=8, elapsed_s=0.0, train_s=0.0)
    clock = [1000.0]
    monkeypatch.setattr(live, "time", SimpleNamespace(time=lambda: clock[0]))
    return ctx, run, clock


def step(run, n: int) -> None:
    run.append_metric({"step": n, "elapsed_s": n * 2.0, "train_s": n * 1.5, "loss": 2.0 / n,
                       "lr": 1e-3, "grad_norm": 0.5, "tokens_per_s": 900.0})
    run.update_status(step=n, elapsed_s=n * 2.0, train_s=n * 1.5)
    run.log(f"step {n}/8")


def test_a_poll_redraws_charts_at_most_every_few_seconds_while_training(watched):
    from studio.ui.train import live

    ctx, run, clock = watched

    def poll(seen):
        values, active, now = live.snapshot(ctx, run.id, "en", seen)
        drawn = [not (isinstance(v, dict) and v == {"__type__": "update"}) for v in values]
        return drawn, live.changed(seen, now), now

    step(run, 1)
    drawn, changed, seen = poll(live.EMPTY)
    assert all(drawn) and changed  # a page's first poll draws everything
    step(run, 2)
    clock[0] += 1.0
    drawn, changed, seen = poll(seen)
    assert changed and drawn == [True, True, False, False, False, False, False, True, False,
                                 False, False]  # 4 charts, table, log, 3 method charts
    drawn, changed, seen = poll(seen)
    assert not changed  # nothing new: the tab then polls less often
    clock[0] += live.CHART_SECONDS
    drawn, changed, seen = poll(seen)
    assert drawn[2:6] == [True] * 4  # the held-back row is drawn once the interval has passed
    step(run, 3)
    run.update_status(state="completed")
    drawn, _, seen = poll(seen)
    assert drawn[2:6] == [True] * 4  # the last rows of a finished run are drawn at once
