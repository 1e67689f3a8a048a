"""Relaunch time: seconds from ``python app.py`` to the page being served, median of 5.

Each launch is a fresh process on a fresh workspace with a warm model cache (the bundled model
was converted by an earlier launch, as it is on a user's second start). The clock stops when the
page's HTML and its ``/config`` (what the browser fetches to draw the tabs) both answer 200, so it
measures what a user waits for after pressing Enter and before the page can paint. Also printed:
how long ``import gradio`` alone takes in a fresh interpreter, the floor no deferral can beat.

    .venv/bin/python benchmarks/page_start.py [--launches 5]
        [--json benchmarks/page_start.last.json]

Goal from issue 14: page served <= 4 s after ``python app.py`` (median of 5).
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


def one_launch() -> float:
    port, workspace = free_port(), tempfile.mkdtemp(prefix="page-start-")
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--workspace", workspace, "--port",
                             str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while not served(url):
            if proc.poll() is not None:
                sys.exit("app.py exited before serving the page")
            if time.perf_counter() - t0 > 120:
                sys.exit("the page was not served within 120 s")
            time.sleep(0.05)
        return time.perf_counter() - t0
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
    median = statistics.median(launches)
    print("launches: " + ", ".join(f"{s:.2f}s" for s in launches))
    print(f"page served after python app.py: median {median:.2f} s (goal <= 4 s); "
          f"import gradio alone: {floor:.2f} s ({median / floor:.2f}x)")
    if args.json:
        args.json.write_text(json.dumps({"launches_s": launches, "median_s": median,
                                         "import_gradio_s": floor, "cpus": os.cpu_count()},
                                        indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
