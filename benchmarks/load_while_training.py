"""Training under load: how much eight polling pages and a chatting user slow a run.

Launches the studio (``app.py``) in its own process on a fresh workspace and trains the
identity-lora preset on the bundled model through the page's own API (``/load_preset`` then
``/start``, as the Train tab does), three ways, interleaved over several rounds so machine noise
hits each alike:

- **quiet**: nobody else is connected (the baseline);
- **8 pollers**: eight ``gradio_client`` sessions in this process ask ``/runs_list`` and
  ``/run_open`` for the training run as fast as they are answered;
- **8 pollers + chat**: the same, and a ninth session chats with the first finished run (the
  chat generates on the same cores as training, so this is the honest cost of a live demo).

Per run: seconds per optimizer step between the 3rd and the last step (from the run's own
``metrics.jsonl``, so model loading is not counted), and how many poll and chat requests were
answered or failed. Printed: medians per setting and the slowdown against quiet.

    .venv/bin/python benchmarks/load_while_training.py [--rounds 3] [--steps 16]
        [--json benchmarks/load_while_training.last.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# One way to launch the studio for every benchmark (its log goes to a file: a full pipe would
# stall it).
from benchmarks.live_view import free_port, start_studio  # noqa: E402

POLLERS = 8


def start_run(client, steps: int) -> str:
    """Load the identity preset into the form, set max_steps, press Start; the run's id."""
    from studio.ui.train.form import FORM_FIELDS

    *values, _info, _message = client.predict(str(ROOT / "presets" / "identity-lora.yaml"),
                                              "en", api_name="/load_preset")
    values[FORM_FIELDS.index("max_steps")] = steps
    values[FORM_FIELDS.index("probe_steps")] = 0  # probes would time generation, not training
    message, run_id, *_ = client.predict(*values, "en", api_name="/start")
    if not run_id:
        sys.exit(f"the run did not start: {message}")
    return run_id


def state_of(workspace: Path, run_id: str) -> str:
    status = workspace / "runs" / run_id / "status.json"
    try:
        return json.loads(status.read_text(encoding="utf-8")).get("state", "")
    except (OSError, ValueError):
        return ""  # being rewritten this instant


def seconds_per_step(workspace: Path, run_id: str) -> float:
    rows = [json.loads(line) for line in
            (workspace / "runs" / run_id / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in rows if "loss" in r]
    first, last = timed[2], timed[-1]
    return (last["elapsed_s"] - first["elapsed_s"]) / (last["step"] - first["step"])


def load_threads(url: str, run_id: str, chat_run: str | None, stop: threading.Event,
                 counts: dict) -> list[threading.Thread]:
    from gradio_client import Client

    lock = threading.Lock()

    def count(key: str) -> None:
        with lock:
            counts[key] += 1

    def poller():
        client = Client(url, verbose=False)
        while not stop.is_set():
            try:
                client.predict("en", None, api_name="/runs_list")
                client.predict(run_id, "en", api_name="/run_open")
                count("polls")
            except Exception:
                count("poll_errors")

    def chatter():
        client = Client(url, verbose=False)
        while not stop.is_set():
            try:
                client.predict("Who are you?", "side", chat_run, "", "", "", 64, 0, 1, 0, 1,
                               0, "en", api_name="/chat_send")
                client.predict(chat_run, "", "side", "en", api_name="/chat_clear")
                count("chats")
            except Exception:
                count("chat_errors")

    threads = [threading.Thread(target=poller, daemon=True) for _ in range(POLLERS)]
    if chat_run:
        threads.append(threading.Thread(target=chatter, daemon=True))
    return threads


def one_run(url: str, workspace: Path, steps: int, setting: str, chat_run: str | None) -> dict:
    from gradio_client import Client

    run_id = start_run(Client(url, verbose=False), steps)
    stop = threading.Event()
    counts = {"polls": 0, "poll_errors": 0, "chats": 0, "chat_errors": 0}
    threads = [] if setting == "quiet" else load_threads(
        url, run_id, chat_run if setting == "8 pollers + chat" else None, stop, counts)
    for t in threads:
        t.start()
    while state_of(workspace, run_id) in ("", "queued", "running"):
        time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    state = state_of(workspace, run_id)
    if state != "completed":
        sys.exit(f"run {run_id} ended {state}")
    return {"run": run_id, "s_per_step": seconds_per_step(workspace, run_id), **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    workspace = Path(tempfile.mkdtemp(prefix="load-train-"))
    port = free_port()
    studio = start_studio(workspace, port, threads=None)
    url = f"http://127.0.0.1:{port}/"
    settings = ("quiet", "8 pollers", "8 pollers + chat")
    results: dict[str, list[dict]] = {name: [] for name in settings}
    chat_run = None
    try:
        for _ in range(args.rounds):
            for name in settings:
                out = one_run(url, workspace, args.steps, name, chat_run)
                chat_run = chat_run or out["run"]  # the first finished run is chatted with
                results[name].append(out)
                print(f"{name:<18} {out['s_per_step']:.3f} s/step  polls {out['polls']} "
                      f"(errors {out['poll_errors']})  chats {out['chats']} "
                      f"(errors {out['chat_errors']})", flush=True)
    finally:
        studio.terminate()
        studio.wait(timeout=30)
    base = statistics.median(r["s_per_step"] for r in results["quiet"])
    table = {}
    for name, runs in results.items():
        step = statistics.median(r["s_per_step"] for r in runs)
        table[name] = {"s_per_step": step, "slowdown": step / base,
                       **{k: sum(r[k] for r in runs) for k in
                          ("polls", "poll_errors", "chats", "chat_errors")}}
    print(f"\n{'setting':<18} {'s/step':>7} {'x quiet':>8} {'answered':>9} {'errors':>7}")
    for name, row in table.items():
        answered = row["polls"] + row["chats"]
        errors = row["poll_errors"] + row["chat_errors"]
        print(f"{name:<18} {row['s_per_step']:7.3f} {row['slowdown']:8.2f} {answered:9d} "
              f"{errors:7d}")
    if args.json:
        report = {"model": "smollm2-135m-instruct", "preset": "identity-lora",
                  "steps": args.steps, "rounds": args.rounds, "cpus": os.cpu_count(),
                  "table": table, "runs": results}
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
