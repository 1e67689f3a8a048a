"""Scoring the bundled SmolLM2 on a few real subjects: stable run to run, complete CLI JSON.

Kept small (a couple of subjects, a few questions, one shot) so it runs in seconds; agreement with
the reference harness is measured by benchmarks/eval_vs_harness.py, not here.
"""

from __future__ import annotations

import argparse
import json

import pytest

from studio.cli import eval_cmd
from studio.engine.models import BUNDLED_ID
from studio.engine.scoring import evaluate as ev
from studio.engine.scoring import loading


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    eval_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_scores_are_stable_run_to_run(eval_data):
    model, tokenizer = loading.load_for_eval(BUNDLED_ID, dtype="float32")
    kwargs = dict(subjects=["abstract_algebra", "anatomy"], shots=1, limit=2)
    first = ev.evaluate(model, tokenizer, "mmlu", eval_data / "mmlu", **kwargs)
    again = ev.evaluate(model, tokenizer, "mmlu", eval_data / "mmlu", batch_size=1, **kwargs)
    for key in first["subjects"]:
        a, b = first["subjects"][key], again["subjects"][key]
        assert a["predictions"] == b["predictions"] and a["acc"] == b["acc"]
        for x, y in zip(a["logprobs"], b["logprobs"]):
            assert x == pytest.approx(y, abs=1e-4)
    assert first["overall"] == again["overall"]


def test_cli_json_is_complete(eval_data, tmp_path, capsys):
    out = tmp_path / "ceval.json"
    rc = _cli(["eval", "--benchmark", "ceval", "--data-dir", str(eval_data / "ceval"),
               "--model", BUNDLED_ID, "--subjects", "accountant,law", "--shots", "0",
               "--limit", "2", "--dtype", "float32", "--output", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "accountant" in printed and "overall" in printed
    r = json.loads(out.read_text(encoding="utf-8"))
    assert r["benchmark"] == "ceval" and r["split"] == "val" and r["shots"] == 0
    assert set(r["subjects"]) == {"accountant", "law"}
    for s in r["subjects"].values():
        assert s["n"] == 2 and 0 <= s["correct"] <= 2 and s["acc"] == s["correct"] / 2
        assert len(s["predictions"]) == 2 and set(s["predictions"]) <= set("ABCD")
        assert len(s["logprobs"]) == 2 and all(len(lp) == 4 and max(lp) < 0 for lp in s["logprobs"])
    assert set(r["categories"]) == {"Other", "Humanities"}
    assert r["overall"]["n"] == 4 and r["dtype"] == "float32"
