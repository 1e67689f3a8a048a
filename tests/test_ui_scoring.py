"""The Scoring tab through its API (gradio_client): subjects, a scoring run, the results table.

The tiny model and a second tiny model that always answers "C" score the self-authored sample
exam, so the run takes seconds; the run happens in the job thread while the test polls, as the
page's timer does. Each side of the comparison must equal that model scored on its own.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.ui_server import launch_studio

PICKED = [["general_science"], [], ["world_geography"], []]  # STEM, Humanities, Social, Other
SUBJECTS = ["general_science", "world_geography"]
EXAM = Path(__file__).resolve().parents[1] / "assets" / "sample-exam" / "en"


def pct(acc: float) -> str:
    """An accuracy as the results table writes it."""
    return f"{100 * acc:.1f}"


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir, always_c_model_dir):
    from gradio_client import Client

    from studio.engine.workspace import Workspace

    root = tmp_path_factory.mktemp("scoring-ws")
    workspace = Workspace(root, [tiny_model_dir.parent, always_c_model_dir.parent])
    demo, url = launch_studio(workspace)
    yield Client(url, verbose=False), workspace
    demo.close()


def _poll(client, job: str, timeout: float = 60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        progress, table, chart, history, *_ = client.predict(job, None, "en",
                                                            api_name="/scoring_poll")
        if "Done" in progress or "Stopped" in progress or "Failed" in progress:
            return progress, table, chart, history
        time.sleep(0.5)
    raise AssertionError("scoring did not finish")


def test_subjects_are_grouped_by_category(studio):
    client, _ = studio
    *groups, message = client.predict("ceval", "assets/sample-exam/zh", "all", "en",
                                      api_name="/scoring_subjects")
    assert message == ""
    assert [g["value"] for g in groups] == [["everyday_math"], ["chinese_culture"], [], []]
    assert groups[0]["choices"] == [["everyday_math · 日常数学", "everyday_math"]]
    *groups, message = client.predict("mmlu", "no/such/folder", "all", "en",
                                      api_name="/scoring_subjects")
    assert "outside the workspace" in message or "not found" in message


def _mmlu_sample(client):
    # The category groups' choices live in the session: load the sample exam's subjects first.
    client.predict("mmlu", "assets/sample-exam/en", "all", "en", api_name="/scoring_subjects")


def scored_alone(model_dir, subjects: list[str], limit: int) -> dict:
    """One model scored on its own, outside the studio, as the reference for one side."""
    from studio.engine.scoring import evaluate as ev
    from studio.engine.scoring import loading

    model, tokenizer = loading.load_for_eval(str(model_dir), dtype="float32")
    return ev.evaluate(model, tokenizer, "mmlu", EXAM, subjects, shots=1, limit=limit)


def test_a_comparison_fills_table_chart_and_history(studio, tiny_model_dir, always_c_model_dir):
    import json

    client, workspace = studio
    _mmlu_sample(client)
    message, job, *_ = client.predict("mmlu", "assets/sample-exam/en", 1, "plain", 3, "float32",
                                     str(tiny_model_dir), None, str(always_c_model_dir), "en",
                                     *PICKED, api_name="/scoring_start")
    assert "12 questions" in message, message  # 6 questions for each of the two sides
    progress, table, chart, history = _poll(client, job)
    assert "Done" in progress
    # Two different models: each side must equal that model scored on its own, so swapped
    # sides (or one model scored twice) would show.
    left = scored_alone(tiny_model_dir, SUBJECTS, 3)
    right = scored_alone(always_c_model_dir, SUBJECTS, 3)
    assert {p for s in right["subjects"].values() for p in s["predictions"]} == {"C"}
    assert left["overall"]["acc"] != right["overall"]["acc"]
    a, b = tiny_model_dir.name, always_c_model_dir.name
    assert table["headers"] == ["Level", "Name", "Questions", a, b, "Δ"]
    rows = {(r[0], r[1]): r for r in table["data"]}
    for subject in SUBJECTS:
        assert rows[("subject", subject)][2:5] == [
            3, pct(left["subjects"][subject]["acc"]), pct(right["subjects"][subject]["acc"])]
    delta = right["overall"]["acc"] - left["overall"]["acc"]
    assert rows[("overall", "overall")][2:] == [6, pct(left["overall"]["acc"]),
                                                pct(right["overall"]["acc"]),
                                                f"{100 * delta:+.1f}"]
    bars = {row[0]: row[2] for row in chart["data"]}  # columns: bar, cat, accuracy, model
    assert bars[f"overall · {a}"] == round(100 * left["overall"]["acc"], 1)
    assert bars[f"overall · {b}"] == round(100 * right["overall"]["acc"], 1)
    saved = sorted((workspace.root / "eval").glob("mmlu-test-1shot-plain-*.json"))
    by_label = {r["label"]: r for r in (json.loads(p.read_text(encoding="utf-8")) for p in saved)}
    assert set(by_label) == {a, b}
    for label, alone in ((a, left), (b, right)):
        for subject in SUBJECTS:
            got, want = by_label[label]["subjects"][subject], alone["subjects"][subject]
            assert got["predictions"] == want["predictions"]
            assert [x for row in got["logprobs"] for x in row] == pytest.approx(
                [x for row in want["logprobs"] for x in row], abs=1e-5)
    assert len(history["data"]) == 2


def test_bad_input_is_a_message(studio, tiny_model_dir):
    client, _ = studio
    message, job, *_ = client.predict("mmlu", "assets/sample-exam/en", 1, "plain", 3, "float32",
                                     str(tiny_model_dir), None, "", "en", [], [], [], [],
                                     api_name="/scoring_start")
    assert job == "" and "Pick at least one subject" in message
    _mmlu_sample(client)
    message, job, *_ = client.predict("mmlu", "/etc", 1, "plain", 3, "float32",
                                     str(tiny_model_dir), None, "", "en", *PICKED,
                                     api_name="/scoring_start")
    assert job == "" and "outside the workspace" in message
