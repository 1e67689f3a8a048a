"""Start and stop the OpenAI-compatible server, from the CLI (blocking) or the Deploy tab.

``ServeOptions`` is what a person chooses: the base model, host, port, API key, engine. The
safety rules live in ``ServeOptions.problems``: the server binds to loopback unless told
otherwise, and anything else needs an API key. ``StudioServer`` runs uvicorn in a thread with its
own chat engine and batcher, waits until the port is really listening (so the URL it shows
works), and stops cleanly, finishing nothing half-way: streams in flight end as cancelled.
``--engine vllm`` hands the same options to vLLM instead (``studio.engine.serve.vllm``).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass

from studio.engine.errors import Reason, ServeError
from studio.engine.models import BUNDLED_ID

ENGINES = ("studio", "vllm")


@dataclass
class ServeOptions:
    model: str = BUNDLED_ID
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str = ""
    engine: str = "studio"
    max_batch: int = 32
    dtype: str = "auto"

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/v1"

    def problems(self) -> list[Reason]:
        out = []
        if not 1 <= self.port <= 65535:
            out.append(Reason("serve_port", {"port": self.port}))
        if not self.loopback and not self.api_key:
            out.append(Reason("serve_needs_key", {"host": self.host}))
        if self.engine not in ENGINES:
            out.append(Reason("serve_engine", {"engine": self.engine,
                                               "choices": ", ".join(ENGINES)}))
        if not 1 <= self.max_batch <= 256:
            out.append(Reason("serve_max_batch", {"got": self.max_batch}))
        return out


class StudioServer:
    """The studio's own engine behind uvicorn, in a background thread."""

    def __init__(self, options: ServeOptions, runs=None, workspace=None):
        problems = options.problems()
        if problems:
            raise ServeError(problems)
        from studio.engine.chat.engine import ChatEngine
        from studio.engine.serve.service import ModelRegistry, ServeService

        self.options = options
        registry = ModelRegistry(options.model, runs, workspace)
        self.engine = ChatEngine(runs=runs, workspace=workspace, dtype=options.dtype)
        self.service = ServeService(self.engine, registry, max_batch=options.max_batch)
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 30) -> StudioServer:
        import uvicorn

        from studio.engine.serve.api import create_app
        from studio.engine.serve.hosts import loopback_hosts

        _check_port_free(self.options.host, self.options.port)
        hosts = loopback_hosts(self.options.port) if self.options.loopback else None
        app = create_app(self.service, self.options.api_key or None, hosts)
        config = uvicorn.Config(app, host=self.options.host, port=self.options.port,
                                log_level="warning", access_log=False,
                                timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="serve-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServeError("serve_start_failed", host=self.options.host,
                                 port=self.options.port)
            time.sleep(0.05)
        return self

    def warm(self) -> None:
        """Load the base weights now, so the first request does not wait for them."""
        from studio.engine.chat.targets import Target

        binding = self.engine.bind(Target(model_id=self.options.model))
        self.engine.release(binding)

    def stop(self) -> None:
        """Stop listening, end the answers in flight (as cancelled), then wait for uvicorn."""
        if self._server is not None:
            self._server.should_exit = True
        self.service.close()  # open streams end now, so uvicorn's shutdown need not wait
        if self._thread is not None:
            self._thread.join(timeout=15)

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C in ``studio serve``)."""
        while self.running:
            self._thread.join(timeout=0.5)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ServeError("serve_port_taken", host=host, port=port,
                             detail=exc.strerror or str(exc)) from None
