"""The forgetting check: McNemar's exact test, the verdicts, a fixed sample, the job, the card.

The numbers are checked against values worked out by hand (the two-sided exact binomial test on
the discordant pairs). The job runs on the tiny model with a LoRA adapter of random weights in a
fake run folder, so base and tuned really differ; its base answers must be the plain model's. The
page is driven through its API, as in test_ui_train: a finished identity run gets its card (in
English and Chinese), Start during a check starts the next run at once and leaves the check
``skipped`` with the reason and a button to run it again, and a missing exam folder is refused
before any run folder exists. One test on the bundled model measures the identity demo's check.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import torch

from studio.engine.device import Device
from studio.engine.errors import ConfigError, Reason
from studio.engine.runs import RunStore
from studio.engine.scoring import evaluate as ev
from studio.engine.scoring import forgetting as fg
from studio.engine.train.config import TrainConfig, validate
from studio.engine.train.preflight import check_ready
from studio.ui.forgetting_card import card_html, verdict_text
from studio.ui.i18n import Translator

ROOT = Path(__file__).resolve().parents[1]
EN, ZH = ROOT / "assets" / "sample-exam" / "en", ROOT / "assets" / "sample-exam" / "zh"
TR = Translator()


# ------------------------------------------------------------------------------- the numbers
@pytest.mark.parametrize("b,c,p", [(10, 0, 0.001953125), (0, 10, 0.001953125), (5, 5, 1.0),
                                   (0, 0, 1.0), (12, 3, 0.03515625), (3, 1, 0.625),
                                   (1, 0, 1.0)])
def test_mcnemar_exact_p_values(b, c, p):
    # 2 * P(X <= min(b, c)), X ~ Binomial(b + c, 1/2): e.g. 2 * (1 + 15 + 105 + 455) / 2**15
    assert fg.mcnemar_p(b, c) == pytest.approx(p, rel=1e-9)


def test_mcnemar_on_thousands_of_questions_stays_a_probability():
    assert 0.0 < fg.mcnemar_p(3000, 2900) < 0.5 and fg.mcnemar_p(3000, 3000) == 1.0


@pytest.mark.parametrize("b,c,code,points", [(4, 4, "no_loss", 0.0), (10, 0, "lost", -25.0),
                                             (0, 10, "gained", 25.0), (3, 1, "changed", -5.0),
                                             (1, 3, "changed", 5.0)])
def test_verdict_codes(b, c, code, points):
    v = fg.verdict(b, c, 40)
    assert (v["code"], v["points"]) == (code, points)
    assert v["p_value"] == fg.mcnemar_p(b, c)


def test_verdicts_in_plain_words_in_both_languages():
    lost = fg.verdict(10, 0, 40)
    assert verdict_text(TR, "en", lost) == "Lost 25.0 points, significant (p=0.002)"
    assert verdict_text(TR, "zh", lost) == "下降了 25.0 个百分点，差异显著（p=0.002）"
    assert verdict_text(TR, "en", fg.verdict(2, 2, 40)) == "No measurable loss of general ability"
    assert verdict_text(TR, "en", fg.verdict(0, 10, 40)).startswith("Gained 25.0 points")
    assert verdict_text(TR, "en", fg.verdict(1, 3, 40)) == \
        "Changed +5.0 points, not significant (p=0.62)"


# ------------------------------------------------------------------------------- the sample
def _keys(entries):
    return [(e["subject"].key, q.index) for e in entries for q in e["questions"]]


def test_the_sample_is_fixed_spans_subjects_and_caps_at_the_pool():
    first = fg.draw_sample("mmlu", EN, 10)
    assert _keys(first) == _keys(fg.draw_sample("mmlu", EN, 10)) and len(_keys(first)) == 10
    assert {key for key, _ in _keys(first)} == {"general_science", "world_geography"}
    assert len(_keys(fg.draw_sample("mmlu", EN, 1000))) == 16  # every question, no repeats
    assert len(_keys(fg.draw_sample("ceval", ZH, 5))) == 5
    assert _keys(fg.draw_sample("mmlu", EN, 10, seed=7)) != _keys(first)  # the seed decides


def test_a_sample_of_real_mmlu_is_drawn_across_many_subjects(eval_data):
    entries = fg.draw_sample("mmlu", eval_data / "mmlu", 100)
    assert len(_keys(entries)) == 100 and len(entries) > 30
    assert _keys(entries) == _keys(fg.draw_sample("mmlu", eval_data / "mmlu", 100))


# ------------------------------------------------------------------------------- the job
def _adapter_run(store: RunStore, model_dir, scale: float, **cfg) -> object:
    """A completed run whose LoRA adapter has weights of ``scale`` (0: the base model)."""
    from peft import LoraConfig, get_peft_model

    from studio.engine.models import load_model

    run = store.create(TrainConfig(model=str(model_dir), forgetting_check=True, **cfg))
    model = get_peft_model(load_model(str(model_dir), dtype=torch.float32),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(1)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, scale)  # a fresh LoRA is a no-op; make the tuned side differ
    model.save_pretrained(run.path / "adapter")
    run.update_status(state="completed")
    return run


def test_the_check_scores_base_and_tuned_on_the_same_questions(tmp_path, tiny_model_dir):
    run = _adapter_run(RunStore(tmp_path / "runs"), tiny_model_dir, 0.5, forgetting_questions=6)
    fg.ForgettingJob(run).work()
    record = fg.read_record(run)
    assert record["state"] == "done", record
    exams = record["exams"]
    assert [x["n"] for x in exams.values()] == [6, 6] and record["overall"]["n"] == 12
    wanted = {e: _keys(fg.draw_sample(e, d, 6)) for e, d in (("mmlu", EN), ("ceval", ZH))}
    for exam, x in exams.items():
        assert [(q["subject"], q["index"]) for q in x["questions"]] == wanted[exam]
    # The base side is the plain model: the same answers as scoring it on its own.
    from studio.engine.scoring.loading import load_for_eval

    model, tok = load_for_eval(str(tiny_model_dir), dtype="float32")
    plain = ev.evaluate(model, tok, "mmlu", EN, shots=0)["subjects"]
    for q in exams["mmlu"]["questions"]:
        s = plain[q["subject"]]
        assert q["base"] == s["predictions"][s["indices"].index(q["index"])]
        assert q["base_correct"] == (q["base"] == q["answer"])
    rows = [q for x in exams.values() for q in x["questions"]]
    b = sum(q["base_correct"] and not q["tuned_correct"] for q in rows)
    c = sum(q["tuned_correct"] and not q["base_correct"] for q in rows)
    overall = record["overall"]
    assert (overall["b"], overall["c"]) == (b, c)
    assert overall["before"] == sum(q["base_correct"] for q in rows) / 12
    assert record["verdict"] == fg.verdict(b, c, 12)
    assert "forgetting check: MMLU" in run.log_tail()


def test_a_check_given_way_is_skipped_with_the_reason(tmp_path, tiny_model_dir):
    run = _adapter_run(RunStore(tmp_path / "runs"), tiny_model_dir, 0.5)
    job = fg.ForgettingJob(run)

    class Other:
        kind, run = "training", type("R", (), {"id": "20990101-next"})()

    job.give_way(Other())
    job.work()  # told to give way before it began: it never scores
    record = fg.read_record(run)
    assert record["state"] == "skipped" and "exams" not in record
    assert fg.reason_from(record["reason"]) == Reason("forgetting_yield_training",
                                                      {"run": "20990101-next"})
    html = card_html(TR, "en", record)
    assert "Skipped: run 20990101-next started on this device" in html


# ------------------------------------------------------------------------------- the device
class Held:
    """A job that holds the device until released; ``yields`` like a forgetting check."""

    def __init__(self, kind: str, yields: bool = False, then=None):
        self.kind, self.yields, self.then = kind, yields, then
        self.started, self.release, self.gave_way_to = threading.Event(), threading.Event(), None

    def busy_reason(self):
        return Reason("busy_scoring", {"name": self.kind})

    def work(self):
        self.started.set()
        self.release.wait(30)

    def stop(self):
        self.release.set()

    def give_way(self, job):
        self.gave_way_to = job
        self.release.set()

    def follow_up(self):
        return self.then


def test_the_device_hands_a_yielding_job_over_and_runs_follow_ups():
    device = Device()
    check = Held("forgetting", yields=True)
    first = device.start(Held("training", then=check))
    first.started.wait(10)
    first.release.set()
    assert check.started.wait(10) and device.active() is check  # its follow-up, same worker
    began = time.monotonic()
    new = device.start(Held("scoring"))  # no BusyError: the check gives way
    assert time.monotonic() - began < 1.0 and check.gave_way_to is new
    assert new.started.wait(10) and device.active() is new
    new.release.set()
    device.wait(10)


# ------------------------------------------------------------------------------- settings
def test_settings_are_validated_and_a_missing_folder_refused_before_the_run(tmp_path,
                                                                            tiny_config):
    import dataclasses

    none = dataclasses.replace(tiny_config, forgetting_check=True, forgetting_mmlu_dir="",
                               forgetting_ceval_dir=" ")
    assert [r.code for r in validate(none)] == ["forgetting_no_exam"]
    zero = dataclasses.replace(tiny_config, forgetting_questions=0)
    assert [(r.code, r.params["field"]) for r in validate(zero)] == \
        [("field_range", "forgetting_questions")]
    missing = dataclasses.replace(tiny_config, forgetting_check=True,
                                  forgetting_mmlu_dir=str(tmp_path / "nope"))
    with pytest.raises(ConfigError) as refused:
        check_ready(missing)
    (reason,) = refused.value.reasons
    assert reason.params["field"] == "forgetting_mmlu_dir"
    assert "is not an exam folder in MMLU layout" in str(refused.value)
    assert check_ready(dataclasses.replace(missing, forgetting_check=False))  # off: not judged


def test_the_shell_prints_the_verdict_after_a_completed_run(tmp_path, tiny_config):
    import subprocess
    import sys

    from studio.engine.train.config import dump_yaml

    config = tmp_path / "tiny.yaml"
    config.write_text(dump_yaml(tiny_config), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "studio.cli", "train", str(config), "--set",
                          "max_steps=1", "--set", "probe_steps=0", "--set",
                          "forgetting_check=true", "--set", "forgetting_questions=3",
                          "--runs-dir", str(tmp_path / "runs")], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    *_, verdict_line, last = out.stdout.strip().splitlines()
    assert verdict_line.startswith("forgetting check: MMLU ") and "on 6 questions: " in \
        verdict_line and last.startswith("run: ")
    record = json.loads((Path(last[5:]) / fg.RECORD).read_text(encoding="utf-8"))
    assert record["state"] == "done" and record["overall"]["n"] == 6


# ------------------------------------------------------------------------------- the page
gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir, shared_roots):
    from studio.engine.workspace import Workspace
    from tests.ui_server import launch_studio

    ws = Workspace(tmp_path_factory.mktemp("ws"), [*shared_roots, tiny_model_dir.parent])
    demo, url = launch_studio(ws)
    try:
        yield demo.studio_ctx, gradio_client.Client(url, verbose=False)
    finally:
        demo.studio_ctx.jobs.stop()
        demo.studio_ctx.jobs.wait(60)
        demo.close()


def _form(client, tiny_model_dir, **changes) -> list:
    from tests.test_ui_train import form_values

    return form_values(client, tiny_model_dir, **{"max_steps": 2, "probe_steps": 0,
                                                  "forgetting_questions": 6, **changes})


def _card(out) -> str:
    return next(x for x in out if isinstance(x, str) and "studio-forgetting" in x)


def _record(ctx, run_id) -> dict:
    return json.loads((ctx.store.get(run_id).path / fg.RECORD).read_text(encoding="utf-8"))


def test_a_completed_run_gets_its_check_and_card(studio, tiny_model_dir):
    ctx, client = studio
    values = _form(client, tiny_model_dir)
    assert values[_index("forgetting_check")] is True  # the identity preset turns it on
    message, run_id, _ = client.predict(*values, "en", api_name="/start")
    assert run_id in message, message
    ctx.jobs.wait(120)
    record = _record(ctx, run_id)
    assert record["state"] == "done" and record["overall"]["n"] == 12
    assert all(len(x["questions"]) == 6 for x in record["exams"].values())
    card = _card(client.predict(run_id, "en", api_name="/poll"))
    assert verdict_text(TR, "en", record["verdict"]) in card
    assert "MMLU · assets/sample-exam/en" in card and "C-Eval" in card and "Overall" in card
    zh = _card(client.predict(run_id, "zh", api_name="/run_open"))
    assert "遗忘检查" in zh and "总计" in zh and verdict_text(TR, "zh", record["verdict"]) in zh


def _index(name: str) -> int:
    from studio.ui.train.form import FORM_FIELDS

    return FORM_FIELDS.index(name)


def test_start_during_the_check_starts_at_once_and_skips_it(studio, tiny_model_dir,
                                                            monkeypatch):
    ctx, client = studio
    real, entered = ev.score_entries, threading.Event()

    def held(*args, **kwargs):  # the check waits here until it is told to give way
        stop = args[-1]
        entered.set()
        stop.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(ev, "score_entries", held)
    first = client.predict(*_form(client, tiny_model_dir), "en", api_name="/start")[1]
    assert entered.wait(120), "the check never began"
    assert "Checking for forgetting" in _card(client.predict(first, "en", api_name="/poll"))
    began = time.monotonic()
    message, second, _ = client.predict(*_form(client, tiny_model_dir, forgetting_check=False),
                                        "en", api_name="/start")
    assert second and second != first and second in message, message
    assert time.monotonic() - began < 10  # at once, not after the check
    record = _record(ctx, first)
    assert record["state"] == "skipped" and "exams" not in record
    assert record["reason"] == {"code": "forgetting_yield_training", "params": {"run": second}}
    ctx.jobs.wait(120)
    assert ctx.store.get(second).status()["state"] == "completed"
    card = _card(client.predict(first, "en", api_name="/run_open"))
    assert f"Skipped: run {second} started on this device" in card
    from studio.ui.forgetting_card import values

    assert values(ctx, first, "en")[0][1]["visible"] is True  # "run it again" is offered
    monkeypatch.setattr(ev, "score_entries", real)
    client.predict(first, "en", api_name="/run_forgetting_rerun")
    ctx.jobs.wait(120)
    assert _record(ctx, first)["state"] == "done"


def test_a_missing_exam_folder_is_refused_in_the_page(studio, tiny_model_dir):
    ctx, client = studio
    before = {r.id for r in ctx.store.list()}
    values = _form(client, tiny_model_dir, forgetting_ceval_dir="assets/no-such-exam")
    message = client.predict(*values, "en", api_name="/start")[0]
    assert "**Exam folder (C-Eval layout)**" in message and "forgetting_ceval_dir" in message
    zh = client.predict(*values, "zh", api_name="/check")[0]
    assert "**考题文件夹（C-Eval 格式）**" in zh
    assert {r.id for r in ctx.store.list()} == before


# ------------------------------------------------------------------------------- bundled model
@pytest.mark.integration
def test_the_identity_demos_check_on_the_bundled_model(tmp_path):
    """The check the identity preset runs, on the bundled model: a LoRA that changes nothing
    must get "no measurable loss" on all 32 sample questions. About 16 s with one free core of
    the 2-core development CPU; the bound leaves room for a machine shared with other jobs."""
    from studio.engine.models import BUNDLED_ID

    run = _adapter_run(RunStore(tmp_path / "runs"), BUNDLED_ID, 0.0)
    began = time.monotonic()
    fg.ForgettingJob(run).work()
    elapsed = time.monotonic() - began
    record = fg.read_record(run)
    assert record["state"] == "done", record
    assert record["overall"]["n"] == 32 and record["verdict"]["code"] == "no_loss"
    assert (record["overall"]["b"], record["overall"]["c"]) == (0, 0)
    assert elapsed < 120, elapsed
