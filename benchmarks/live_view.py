"""Watching costs nothing: the identity demo trained headless vs with the Train tab open.

The same short run (the identity-lora preset on the bundled model, ``--steps`` steps, probes on
as the preset has them, its forgetting check off) is trained three ways, interleaved over
``--rounds`` rounds (the order rotating) so machine noise hits each alike:

- **headless**: ``studio train`` (the CLI, same engine) in a fresh process of its own;
- **quiet**: through the studio (``app.py`` in its own process, started once and warmed up by
  one untimed run), started as the Train tab starts it (``/load_preset`` then ``/start``
  through the page API), with no page open;
- **page**: the same, with the studio open in headless Chromium on the Train tab, polling the
  live view until the run ends.

Per run, from the run's own folder: seconds per optimizer step between the 3rd logged step and
the last, by the training clock (``train_s``, probes excluded) and by the wall clock
(``elapsed_s``, probes included); the run's wall time (status ``started_at`` to ``ended_at``:
model load, data, training, probes and the save; a fresh CLI process also imports TRL in it);
the seconds probes took. And what watching cost: CPU seconds of the training process (the CLI
with its start-up, or the studio) and of Chromium (in all, and as a share of one core while the
timed steps trained), the queue joins the page sent (its polls) and the bytes of the event
streams that answered them. Printed: medians, and page/headless and page/quiet ratios; the goal
is a page run within 10% of headless.

    .venv/bin/python benchmarks/live_view.py [--rounds 3] [--steps 16] [--threads N]
        [--json benchmarks/live_view.last.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PRESET = ROOT / "presets" / "identity-lora.yaml"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-quic"]  # as tests/ui_server.py launches it
TICKS = os.sysconf("SC_CLK_TCK")
# The preset's forgetting check scores base and tuned after the run: not training, and in the
# studio it would go on scoring on the same cores while the next headless run trains.
NO_CHECK = {"forgetting_check": False}
LOOK_SECONDS = 10.0  # how often Chromium's processes are summed while a run trains


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(threads: int | None) -> dict:
    """This process's environment, with the torch thread count the engine must keep, if set."""
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # speed.configure_threads leaves it alone
    return env


def start_studio(workspace: Path, port: int, threads: int | None) -> subprocess.Popen:
    cmd = [sys.executable, "app.py", "--workspace", str(workspace), "--port", str(port)]
    log = workspace / "studio.log"  # a file, not a pipe: a full pipe would stall the studio
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env=child_env(threads))
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=1)
            return proc
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"the studio exited:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    proc.kill()
    sys.exit("the studio did not come up in 300 s")


# ------------------------------------------------------------------------------ CPU accounting
def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def descendants(root: int) -> set[int]:
    """Every live process below ``root``."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


class BrowserClock:
    """CPU seconds Chromium (and Playwright's driver) spend: every process below this one but
    the studio's and the CLI's, summed at each look so renderers that come and go count."""

    def __init__(self, exclude: set[int]):
        self.exclude = exclude
        self.seen: dict[int, float] = {}

    def look(self) -> float:
        mine = {p for p in descendants(os.getpid()) if p not in self.exclude}
        mine -= {d for p in self.exclude for d in descendants(p)}
        for pid in mine:
            self.seen[pid] = max(self.seen.get(pid, 0.0), cpu_seconds(pid))
        return sum(self.seen.values())


# ------------------------------------------------------------------------------ one run's numbers
def run_numbers(run_dir: Path) -> dict:
    """Seconds per step (training clock and wall clock), run wall time and probe seconds."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in rows if "loss" in r]
    first, last = timed[2], timed[-1]  # the first steps pay warm-up and the step-0 probes
    steps = last["step"] - first["step"]
    clock = "train_s" if "train_s" in last else "elapsed_s"
    status = json.loads((run_dir / "status.json").read_text())
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return {"run": run_dir.name, "state": status.get("state"),
            "s_per_step": (last[clock] - first[clock]) / steps,
            "wall_s_per_step": (last["elapsed_s"] - first["elapsed_s"]) / steps,
            "run_wall_s": status["ended_at"] - status["started_at"],
            "probe_s": sum(s.get("probe_s", 0.0) for s in samples)}


def headless(workspace: Path, steps: int, clock: BrowserClock, threads: int | None) -> dict:
    sets = [f"{k}={v}" for k, v in {"max_steps": steps, **NO_CHECK}.items()]
    cmd = [sys.executable, "-m", "studio.cli", "train", str(PRESET),
           *(a for kv in sets for a in ("--set", kv)),
           "--runs-dir", str(workspace / "runs-headless"), "--workspace", str(workspace)]
    before = children_cpu()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=child_env(threads))
    clock.exclude.add(proc.pid)
    out = list(proc.stdout)
    proc.wait()
    cpu = children_cpu() - before  # the CLI is the only child reaped meanwhile
    found = [m.group(1) for line in out for m in [re.match(r"run: (.+)$", line.strip())] if m]
    if proc.returncode != 0 or not found:
        sys.exit("headless training failed:\n" + "".join(out[-30:]))
    return {**run_numbers(Path(found[-1])), "trainer_cpu_s": cpu, "browser_cpu_s": 0.0,
            "browser_share": 0.0, "polls": 0, "poll_bytes": 0}


def start_run(client, steps: int) -> str:
    """Load the identity preset into the form, set max_steps, press Start; the run's id."""
    from studio.ui.train.form import FORM_FIELDS

    *values, _info, _message = client.predict(str(PRESET), "en", api_name="/load_preset")
    values[FORM_FIELDS.index("max_steps")] = steps
    for key, value in NO_CHECK.items():
        values[FORM_FIELDS.index(key)] = value
    message, run_id, *_ = client.predict(*values, "en", api_name="/start")
    if not run_id:
        sys.exit(f"the run did not start: {message}")
    return run_id


def state_of(run_dir: Path) -> str:
    try:
        return json.loads((run_dir / "status.json").read_text(encoding="utf-8")).get("state", "")
    except (OSError, ValueError):
        return ""  # being rewritten this instant


class PageTraffic:
    """Queue joins the page sends (one per event: here the live view's poll) and the bytes of
    the event streams that answer them."""

    def __init__(self, page):
        self.polls = self.bytes = 0
        page.on("request", self._sent)
        page.on("requestfinished", self._answered)

    def _sent(self, request):
        if "/queue/join" in request.url:
            self.polls += 1

    def _answered(self, request):
        if "/queue/data" in request.url:
            try:
                self.bytes += request.sizes()["responseBodySize"]
            except Exception:  # a stream cut when the page closes has no size
                pass


def quiet(url: str, workspace: Path, steps: int, studio: subprocess.Popen) -> dict:
    from gradio_client import Client

    cpu0 = cpu_seconds(studio.pid)
    run_dir = workspace / "runs" / start_run(Client(url, verbose=False), steps)
    while state_of(run_dir) in ("", "queued", "running"):
        time.sleep(0.5)
    return {**run_numbers(run_dir), "trainer_cpu_s": cpu_seconds(studio.pid) - cpu0,
            "browser_cpu_s": 0.0, "browser_share": 0.0, "polls": 0, "poll_bytes": 0}


def with_page(url: str, workspace: Path, steps: int, studio: subprocess.Popen,
              clock: BrowserClock) -> dict:
    from gradio_client import Client
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        traffic = PageTraffic(page)
        cpu0, browser0 = cpu_seconds(studio.pid), clock.look()
        run_id = start_run(Client(url, verbose=False), steps)
        # Opened after Start, the page picks the active run up on load and follows it.
        page.goto(url, wait_until="load", timeout=120_000)
        page.get_by_role("tab", name=re.compile("Train")).click()
        run_dir = workspace / "runs" / run_id
        share = follow(page, run_dir, clock)
        browser_cpu, trainer_cpu = clock.look() - browser0, cpu_seconds(studio.pid) - cpu0
        browser.close()
    return {**run_numbers(run_dir), "trainer_cpu_s": trainer_cpu, "browser_cpu_s": browser_cpu,
            "browser_share": share, "polls": traffic.polls, "poll_bytes": traffic.bytes}


def timed_steps(run_dir: Path) -> int:
    try:
        text = (run_dir / "metrics.jsonl").read_text()
    except OSError:
        return 0
    return text.count('"loss"')


def follow(page, run_dir: Path, clock: BrowserClock) -> float:
    """Wait for the run to end with the page open; the share of one core Chromium took while
    the timed steps trained (from the 3rd logged step on: the page's own load is over)."""
    mark, looked = None, time.time()
    while state_of(run_dir) in ("", "queued", "running"):
        page.wait_for_timeout(500)  # lets Playwright deliver the page's events meanwhile
        if mark is None and timed_steps(run_dir) >= 3:
            mark = (time.time(), clock.look())
        if time.time() - looked > LOOK_SECONDS:  # reading /proc costs CPU too: rarely
            clock.look()
            looked = time.time()
    if mark is None:
        return 0.0
    return (clock.look() - mark[1]) / max(time.time() - mark[0], 1e-9)


# ------------------------------------------------------------------------------ report
FIELDS = ("s_per_step", "wall_s_per_step", "run_wall_s", "probe_s", "trainer_cpu_s",
          "browser_cpu_s", "browser_share", "polls", "poll_bytes")
RATIOS = ("s_per_step", "wall_s_per_step", "run_wall_s")
WAYS = ("headless", "quiet", "page")


def summary(results: dict[str, list[dict]]) -> dict:
    table = {way: {k: statistics.median(r[k] for r in runs) for k in FIELDS}
             for way, runs in results.items()}
    for base in ("headless", "quiet"):
        table[f"page/{base}"] = {k: table["page"][k] / table[base][k] if table[base][k] else None
                                 for k in RATIOS}
    return table


def print_table(table: dict) -> None:
    print(f"\n{'':<14} {'s/step':>7} {'wall/step':>9} {'run wall':>8} {'probes':>7} "
          f"{'train cpu':>9} {'chromium':>8} {'of core':>7} {'polls':>6} {'poll kB':>8}")
    for way in WAYS:
        r = table[way]
        print(f"{way:<14} {r['s_per_step']:7.3f} {r['wall_s_per_step']:9.3f} "
              f"{r['run_wall_s']:8.1f} {r['probe_s']:7.1f} {r['trainer_cpu_s']:9.1f} "
              f"{r['browser_cpu_s']:8.1f} {r['browser_share']:7.1%} {r['polls']:6.0f} "
              f"{r['poll_bytes'] / 1e3:8.1f}")
    for name in ("page/headless", "page/quiet"):
        ratio = table[name]
        print(f"{name:<14} {ratio['s_per_step']:7.3f} {ratio['wall_s_per_step']:9.3f} "
              f"{ratio['run_wall_s']:8.3f}")
    ratio = table["page/headless"]
    verdict = "yes" if ratio["s_per_step"] <= 1.10 and ratio["wall_s_per_step"] <= 1.10 else "NO"
    print(f"\npage within 10% of headless (s/step by both clocks): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both trainers (default: the engine's choice, "
                        "one per physical core)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the studio (finally)
    if args.steps < 4:
        sys.exit("--steps must be at least 4 (the first steps are not timed)")
    workspace = Path(tempfile.mkdtemp(prefix="live-view-"))
    port = free_port()
    studio = start_studio(workspace, port, args.threads)
    url = f"http://127.0.0.1:{port}/"
    clock = BrowserClock({studio.pid})
    results: dict[str, list[dict]] = {way: [] for way in WAYS}
    ways = {"headless": lambda: headless(workspace, args.steps, clock, args.threads),
            "quiet": lambda: quiet(url, workspace, args.steps, studio),
            "page": lambda: with_page(url, workspace, args.steps, studio, clock)}
    try:
        quiet(url, workspace, 4, studio)  # untimed: the studio's first run imports TRL
        for i in range(args.rounds):
            # Rotate the order, so a machine warming up or cooling down favours no way.
            for way in WAYS[i % 3:] + WAYS[:i % 3]:
                out = ways[way]()
                results[way].append(out)
                print(f"round {i + 1} {way:<9} {out['s_per_step']:.3f} s/step "
                      f"(wall {out['wall_s_per_step']:.3f})  run {out['run_wall_s']:.1f} s  "
                      f"probes {out['probe_s']:.1f} s  cpu {out['trainer_cpu_s']:.1f} s  "
                      f"chromium {out['browser_cpu_s']:.1f} s "
                      f"({out['browser_share']:.0%} of a core while timed)  "
                      f"polls {out['polls']}",
                      flush=True)
    finally:
        studio.terminate()
        studio.wait(timeout=30)
    table = summary(results)
    print_table(table)
    if args.json:
        report = {"model": "smollm2-135m-instruct", "preset": "identity-lora",
                  "steps": args.steps, "rounds": args.rounds, "cpus": os.cpu_count(),
                  "threads": args.threads,
                  "table": table, "runs": results}
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
