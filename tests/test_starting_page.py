"""The page a browser gets while the studio starts (studio/ui/starting.py, wired in app.py).

Before it, ``python app.py`` left the browser on "connection refused" for the 6-14 s Gradio's
import takes here, and for the bundled model's first conversion. Now the address answers at
once with a bilingual page naming the stage, which turns into the studio by itself; a port in
use is named in one line instead of a traceback after the whole start.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from studio.ui.starting import STAGE_PATH, StartingPage
from tests.ui_server import free_port, open_browser

ROOT = Path(__file__).resolve().parents[1]


def get(url: str, host: str | None = None) -> tuple[int, dict, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_the_address_answers_at_once_with_the_stage_and_frees_its_port(tmp_path):
    port = free_port()
    page = StartingPage("127.0.0.1", port, loopback=True)
    try:
        page.show("Building the tabs / 正在构建页面")
        status, headers, body = get(f"http://127.0.0.1:{port}/?token=abc")
        assert status == 503 and headers["Retry-After"] == "1"  # scripts know to wait
        assert "Starting" in body and "正在启动" in body and "Building the tabs" in body
        status, _, body = get(f"http://127.0.0.1:{port}{STAGE_PATH}")
        assert json.loads(body)["stage"] == "Building the tabs / 正在构建页面"
        # the studio's own guard refuses these; so does its stand-in
        assert get(f"http://127.0.0.1:{port}/", host=f"evil.example:{port}")[0] == 403
    finally:
        page.close()
    with socket.socket() as sock:  # the studio can bind the port next (as uvicorn does)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


class Studio(BaseHTTPRequestHandler):
    """What answers on the port after the starting page closes (the real one is Gradio)."""

    def do_GET(self):  # noqa: N802
        body = b"<html><body><h1>The studio itself</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.browser
def test_a_waiting_browser_follows_the_stages_and_opens_the_studio_by_itself():
    port = free_port()
    starting = StartingPage("127.0.0.1", port, loopback=True)
    studio = None
    try:
        with open_browser() as page:
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_text("正在启动…启动完成后").wait_for()
            starting.show("Building the tabs / 正在构建页面")
            stage = page.locator("#stage", has_text="Building the tabs")
            stage.wait_for(timeout=5_000)  # polled, not reloaded
            starting.close()
            time.sleep(1)  # the gap while Gradio binds: the page keeps waiting
            studio = ThreadingHTTPServer(("127.0.0.1", port), Studio)
            threading.Thread(target=studio.serve_forever, daemon=True).start()
            page.get_by_text("The studio itself").wait_for(timeout=10_000)  # no click needed
            assert "Starting" not in page.inner_text("body")
    finally:
        if studio:
            studio.shutdown()
            studio.server_close()


def test_app_py_serves_the_starting_page_first_then_the_studio(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "app.py", "--workspace", str(tmp_path / "ws"),
                             "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    answers = []
    try:
        deadline = time.monotonic() + 300  # a first launch converts the bundled model
        while time.monotonic() < deadline and not (answers and answers[-1][0] == 200):
            assert proc.poll() is None, proc.stdout.read()
            try:
                status, headers, body = get(f"http://127.0.0.1:{port}/")
                answers.append((status, headers.get("X-Studio-Starting"), body))
            except OSError:  # before the first bind, and while Gradio takes the port
                pass
            time.sleep(0.2)
        first, last = answers[0], answers[-1]
        assert first[:2] == (503, "1") and "Fine-Tune Studio" in first[2]
        assert last[0] == 200 and last[1] is None and "gradio" in last[2].lower()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"starting at http://127.0.0.1:{port}/" in out


def test_a_port_in_use_is_named_before_the_long_start(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "app.py", "--workspace", str(tmp_path),
                              "--port", str(port)], cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
    assert out.returncode != 0
    assert f"Cannot serve on 127.0.0.1:{port}" in out.stderr and "--port" in out.stderr
    assert "Traceback" not in out.stderr
    assert "Preparing the bundled model" not in out.stdout  # refused before the long start
