"""The page a browser gets while the studio starts: served within a blink of ``python app.py``.

Gradio's own import takes several seconds on a small CPU, and the bundled model's first
conversion longer; until now the browser met "connection refused" meanwhile and the user could
not tell a slow start from a broken one. This server imports only the standard library, binds
the studio's address at once and answers every request with a bilingual "starting" page (status
503) that shows the current stage and reloads itself the moment the real studio answers in its
place. ``app.py`` closes it just before Gradio binds the same port. It serves nothing but that
page, and refuses the requests the studio's own guard refuses (another site, another host name).
"""

from __future__ import annotations

import html
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from studio.engine.serve.hosts import loopback_hosts, refusal

STAGE_PATH = "/__studio_starting"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Fine-Tune Studio: starting</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{font-family: system-ui, "Noto Sans CJK SC", sans-serif; margin: 15vh auto; max-width: 34rem;
       color: #1e1b4b; text-align: center}}
.bar {{height: 4px; background: #e0e7ff; overflow: hidden; border-radius: 2px; margin: 1.5rem 0}}
.bar i {{display: block; height: 100%; width: 30%; background: #6366f1;
         animation: slide 1.2s ease-in-out infinite}}
@keyframes slide {{from {{margin-left: -30%}} to {{margin-left: 100%}}}}
#stage {{color: #475569}}
</style></head>
<body>
<h1>Fine-Tune Studio</h1>
<p>Starting… this page opens the studio by itself.<br>正在启动…启动完成后本页会自动打开工作室。</p>
<div class="bar"><i></i></div>
<p id="stage">{stage}</p>
<script>
let lost = 0;
async function poll() {{
  try {{
    const r = await fetch("{path}", {{cache: "no-store"}});
    const shell = r.headers.get("X-Studio-Starting") === "1";
    if (!shell) {{ location.reload(); return; }}
    const s = await r.json();
    document.getElementById("stage").textContent = s.stage + " (" + s.seconds + " s)";
    lost = 0;
  }} catch (e) {{
    // the few moments between this server closing and the studio binding its port
    if (++lost > 40) document.getElementById("stage").textContent =
      "The studio stopped while starting: see the console where it was launched. / " +
      "工作室在启动时停止了：请查看启动它的终端。";
  }}
  setTimeout(poll, 250);
}}
setTimeout(poll, 250);
</script></body></html>
"""


class StartingPage:
    """A stand-in server on the studio's address, told which stage the start has reached."""

    def __init__(self, host: str, port: int, loopback: bool):
        self.stage, self.since = "Starting / 正在启动", time.monotonic()
        hosts = loopback_hosts(port) if loopback else None
        self.server = _Server((host, port), _handler(self, hosts))
        threading.Thread(target=self.server.serve_forever, name="starting-page",
                         daemon=True).start()

    def show(self, stage: str) -> None:
        self.stage = stage

    def close(self) -> None:
        """Free the port for the studio (the open pages keep polling and reload onto it)."""
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str) -> tuple[str, bytes]:
        if path.split("?", 1)[0] == STAGE_PATH:
            seconds = round(time.monotonic() - self.since)
            return "application/json", json.dumps({"stage": self.stage,
                                                   "seconds": seconds}).encode()
        page = PAGE.format(stage=html.escape(self.stage), path=STAGE_PATH)
        return "text/html; charset=utf-8", page.encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler):
        if ":" in address[0]:  # an IPv6 address such as ::1
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


def _handler(starting: StartingPage, hosts: set[str] | None):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            if hosts is not None and refusal(self.headers.get("Host", ""),
                                             self.headers.get("Origin"), hosts):
                self.send_error(403, "Request from another site or host name refused")
                return
            kind, body = starting.answer(self.path)
            self.send_response(503)  # not the studio yet: scripts and health checks wait
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Retry-After", "1")
            self.send_header("X-Studio-Starting", "1")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # the console shows the studio's own start lines
            pass

    return Handler
