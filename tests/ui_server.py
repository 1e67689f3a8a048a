"""Launch the whole studio in-process for UI tests, and open it in headless Debian Chromium.

``launch_studio`` builds the app exactly as ``app.py`` does, on a workspace of the test's
choosing, and serves it on a free local port without blocking, so a test can drive it through
``gradio_client`` or Playwright and then ``demo.close()`` it. ``studio_url`` is the pytest fixture
most UI tests need; ``open_browser`` starts the system Chromium (Playwright's own browser
download cannot work here) with the flags that keep it quiet and offline.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_studio(workspace, runs_dir=None, **options):
    """Build and serve the studio on a free port, as app.py does (``options``: more
    ``LaunchOptions``); returns ``(demo, url)``. Close with ``demo.close()``."""
    from studio.ui.app import LaunchOptions, build_app, launch
    from studio.ui.context import StudioContext

    ctx = StudioContext.create(workspace, runs_dir)
    demo = build_app(ctx)
    with patient_readiness_check():
        _, url, _ = launch(demo, ctx, LaunchOptions(port=free_port(), **options),
                           prevent_thread_lock=True, quiet=True, show_error=True)
    demo.studio_ctx = ctx  # tests may inspect the context (shared components, store)
    demo.close = _stopping_jobs_first(demo.close, ctx.device)
    return demo, url.rstrip("/") + "/"


@contextlib.contextmanager
def patient_readiness_check(seconds: float = 60.0):
    """Gradio's launch asks its own address once, with a 3 s limit, and raises "localhost is
    not accessible" if that one request is slow; in a suite on two busy cores it sometimes is.
    Ask again until ``seconds`` have passed instead."""
    from gradio import networking

    quick = networking.url_ok

    def patient(url: str) -> bool:
        deadline = time.monotonic() + seconds
        while not quick(url):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)  # a refused connection returns at once: do not spin on it
        return True

    networking.url_ok = patient
    try:
        yield
    finally:
        networking.url_ok = quick


def _stopping_jobs_first(close, device):
    """``demo.close`` that first stops the studio's training or scoring job, so a test's
    leftover run does not keep the cores busy under the next test."""
    def stop_then_close(*args, **kwargs):
        device.stop()
        device.wait(60)
        return close(*args, **kwargs)
    return stop_then_close


@pytest.fixture()
def studio_url(workspace) -> Iterator[str]:
    """The URL of a studio serving the ``workspace`` fixture's folder; closed afterwards."""
    demo, url = launch_studio(workspace)
    try:
        yield url
    finally:
        demo.close()


@contextlib.contextmanager
def open_browser(width: int = 1440, height: int = 900, locale: str = "en-US"):
    """A Playwright page in headless Debian Chromium; skips the test when it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, locale=locale)
            yield page
        finally:
            browser.close()


def screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save ``artifacts/screenshots/<name>.png`` (gitignored) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
