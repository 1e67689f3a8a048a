"""The Scoring tab through its API (gradio_client): subjects, a scoring run, the results table.

The tiny model scores the self-authored sample exam, so the run takes seconds; the run happens
in the job thread while the test polls, as the page's timer does.
"""

from __future__ import annotations

import time

import pytest

from tests.ui_server import launch_studio

PICKED = [["general_science"], [], ["world_geography"], []]  # STEM, Humanities, Social, Other


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir):
    from gradio_client import Client

    from studio.engine.workspace import Workspace

    root = tmp_path_factory.mktemp("scoring-ws")
    workspace = Workspace(root, [tiny_model_dir.parent])
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


def test_a_comparison_fills_table_chart_and_history(studio, tiny_model_dir):
    client, workspace = studio
    _mmlu_sample(client)
    message, job, *_ = client.predict("mmlu", "assets/sample-exam/en", 1, "plain", 3, "float32",
                                     str(tiny_model_dir), None, str(tiny_model_dir), "en",
                                     *PICKED, api_name="/scoring_start")
    assert "6 questions" in message or "12 questions" in message, message
    progress, table, chart, history = _poll(client, job)
    assert "Done" in progress
    headers = table["headers"]
    assert headers[:3] == ["Level", "Name", "Questions"] and headers[-1] == "Δ"
    rows = {(r[0], r[1]): r for r in table["data"]}
    assert rows[("subject", "general_science")][2] == 3
    assert rows[("overall", "overall")][2] == 6
    # The same model on both sides: identical accuracy, zero delta.
    assert rows[("overall", "overall")][3] == rows[("overall", "overall")][4]
    assert rows[("overall", "overall")][5] == "+0.0"
    bars = [r["bar"] for r in chart["value"]["data"]] if "value" in chart else chart
    assert bars, chart
    saved = list((workspace.root / "eval").glob("mmlu-test-1shot-plain-*.json"))
    assert len(saved) == 2
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
