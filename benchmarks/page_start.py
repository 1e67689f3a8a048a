"""Relaunch time: seconds from ``python app.py`` to the first paint and to the studio, median of 5.

Each launch is a fresh process on a fresh workspace with a warm model cache (the bundled model
was converted by an earlier launch, as it is on a user's second start). Two clocks per launch:
**first paint**, when the address first answers with a page a browser can draw (the starting
page of ``studio/ui/starting.py``, which names the stage and turns into the studio by itself);
and **studio ready**, when the studio's HTML and its ``/config`` (what the browser fetches to
draw the tabs) both answer 200. Also printed: how long ``import gradio`` alone takes in a fresh
interpreter, the floor no deferral inside the studio can beat for the second clock.

    .venv/bin/python benchmarks/page_start.py [--launches 5]
        [--json benchmarks/page_start.last.json]

Goal from issue 14: page served <= 4 s after ``python app.py`` (median of 5): the first paint.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def served(url: str) -> bool:
    try:
        return all(urllib.request.urlopen(url + path, timeout=2).status == 200
                   for path in ("", "config"))
    except OSError:
        return False


def painted(url: str) -> bool:
    """The address answers with a page (the starting page answers 503, the studio 200)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return b"</html>" in response.read().lower()
    except urllib.error.HTTPError as exc:
        return b"Fine-Tune Studio" in exc.read()
    except OSError:
        return False


def one_launch() -> tuple[float, float]:
    port, workspace = free_port(), tempfile.mkdtemp(prefix="page-start-")
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--workspace", workspace, "--port",
                             str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    first_paint = None
    try:
        while not served(url):
            if first_paint is None and painted(url):
                first_paint = time.perf_counter() - t0
            if proc.poll() is not None:
                sys.exit("app.py exited before serving the page")
            if time.perf_counter() - t0 > 120:
                sys.exit("the page was not served within 120 s")
            time.sleep(0.05)
        ready = time.perf_counter() - t0
        return (ready if first_paint is None else first_paint), ready
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def gradio_import() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gradio"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    one_launch()  # warm the model cache and the OS file cache, as a second start finds them
    launches = [one_launch() for _ in range(args.launches)]
    floor = statistics.median(gradio_import() for _ in range(3))
    paint = statistics.median(first for first, _ in launches)
    ready = statistics.median(ready for _, ready in launches)
    print("launches (first paint / studio ready): "
          + ", ".join(f"{first:.2f}/{done:.2f}s" for first, done in launches))
    print(f"first paint after python app.py: median {paint:.2f} s (goal <= 4 s); "
          f"studio ready: median {ready:.2f} s ({ready / paint:.0f}x the first paint); "
          f"import gradio alone: {floor:.2f} s (ready = {ready / floor:.2f}x it)")
    if args.json:
        args.json.write_text(json.dumps({
            "launches_s": [{"first_paint": first, "ready": done} for first, done in launches],
            "first_paint_median_s": paint, "ready_median_s": ready,
            "import_gradio_s": floor, "cpus": os.cpu_count()}, indent=2) + "\n",
            encoding="utf-8")


if __name__ == "__main__":
    main()
