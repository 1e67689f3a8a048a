"""Scoring jobs on the tiny model: base vs tuned on one copy of the weights, Stop, saving.

A LoRA adapter with random (non-zero) weights is saved in a fake run folder, so the tuned side
really differs from the base side; the base side must equal the plain model's scores exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from studio.engine.scoring import evaluate as ev
from studio.engine.scoring import loading, results
from studio.engine.scoring.job import ScoringJob, Side, base_vs_tuned

EXAM = Path(__file__).resolve().parents[1] / "assets" / "sample-exam" / "en"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir):
    from peft import LoraConfig, get_peft_model

    from studio.engine.models import load_model

    run = tmp_path_factory.mktemp("runs") / "20250101-000000-demo"
    model = load_model(str(tiny_model_dir), dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(1)
    for name, p in peft.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.5)  # a fresh LoRA is a no-op; make the tuned side differ
    peft.save_pretrained(run / "adapter")
    (run / "status.json").write_text(json.dumps({"state": "completed"}))
    (run / "config.yaml").write_text(f"model: {tiny_model_dir}\n")
    return run


def _job(sides, **kw):
    return ScoringJob(sides, "mmlu", str(EXAM), ["general_science"], shots=1, limit=4,
                      dtype="float32", **kw)


def test_base_vs_tuned_shares_weights_and_saves_in_the_run(run_dir, tiny_model_dir):
    job = _job(base_vs_tuned(str(tiny_model_dir), str(run_dir))).start()
    job.join(120)
    assert job.state == "done", job.error
    base, tuned = job.results["base"], job.results["tuned"]
    model, tok = loading.load_for_eval(str(tiny_model_dir), dtype="float32")
    plain = ev.evaluate(model, tok, "mmlu", EXAM, ["general_science"], shots=1, limit=4)
    def flat(result):
        return [x for row in result["subjects"]["general_science"]["logprobs"] for x in row]

    assert flat(base) == pytest.approx(flat(plain), abs=1e-5)
    assert flat(tuned) != pytest.approx(flat(base), abs=1e-3)
    # The tuned side equals the adapter scored on its own (a fresh PeftModel), so the two sides
    # cannot have been swapped or both scored with the adapter off.
    from peft import PeftModel

    alone = PeftModel.from_pretrained(model, str(run_dir / "adapter")).eval()
    assert flat(tuned) == pytest.approx(flat(ev.evaluate(alone, tok, "mmlu", EXAM,
                                                         ["general_science"], shots=1,
                                                         limit=4)), abs=1e-5)
    assert tuned["adapter"] == str(run_dir) and base["base_of"] == str(run_dir)
    assert sorted(p.name.split("-")[4] for p in (run_dir / "eval").glob("*.json")) == \
        ["base", "tuned"]
    assert [h["label"] for h in results.history(run_dir / "eval")] == ["base", "tuned"]


class StopAfter(ScoringJob):
    """A job whose Stop is pressed the moment ``stop_after`` questions have been scored, as a
    person would mid-run: exact, with no thread racing the scorer."""

    stop_after = 2

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name == "done" and 0 < self.stop_after <= value:
            self.stop()


def test_stop_keeps_what_was_scored(tiny_model_dir, tmp_path):
    sides = [Side("a", str(tiny_model_dir)), Side("b", str(tiny_model_dir))]
    job = StopAfter(sides, "mmlu", str(EXAM), ["general_science"], shots=1, limit=4,
                    dtype="float32", save_dir=str(tmp_path), batch_size=1)
    job.start().join(60)
    assert job.state == "stopped" and job.error == "" and job.total == 8
    scored = job.results["a"]["overall"]["n"]
    assert 0 < scored < job.total and scored == job.done == 2  # stopped after its batch
    assert job.results["a"]["stopped"] and "b" not in job.results  # b never started
    assert len(job.results["a"]["subjects"]["general_science"]["predictions"]) == 2
    saved = json.loads(Path(job.saved["a"]).read_text(encoding="utf-8"))
    assert saved["stopped"] and saved["overall"]["n"] == 2  # what was scored is kept on disk
    assert job.snapshot()["state"] == "stopped"


def test_stop_before_the_first_batch_is_not_an_error(tiny_model_dir, tmp_path):
    job = _job([Side("a", str(tiny_model_dir)), Side("b", str(tiny_model_dir))],
               save_dir=str(tmp_path), batch_size=1)
    job.stop()  # stopped before the first batch: nothing scored, nothing lost, no error
    job.start().join(60)
    assert job.state == "stopped" and job.error == "" and job.total == 8
    # Nothing was scored, so there is no result to show or save (a 0 % nobody earned).
    assert job.results == {} and list(tmp_path.glob("*.json")) == []
