"""A Hugging Face token is used for one push and never stored, logged or shown.

A push with a made-up token goes through the Deploy tab's API (the token typed in the form, or
``HF_TOKEN`` in the server's environment) and through ``studio push`` (``HF_TOKEN``); the hub is
kept offline (``HF_HUB_OFFLINE``), so each push fails the way it does without a network. The page
and the shell must say the hub cannot be reached, and the token's text must appear in no file
under the workspace (runs, exports, logs, votes), in no message, and in nothing the process wrote
to stdout or stderr; the files that were there before are unchanged and the page answers again.
"""

from __future__ import annotations

import pytest

from studio.cli import main as studio_main
from tests.reliability.chat_support import TOKEN, fingerprint, kept, served_studio

pytestmark = pytest.mark.reliability
gradio_client = pytest.importorskip("gradio_client")
UNREACHABLE = "Cannot reach the Hugging Face Hub"


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir):
    with served_studio(tmp_path_factory.mktemp("ws"), tiny_model_dir) as served:
        yield served


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No request leaves this machine, whatever its network (the hub client reads the flag on
    every call)."""
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("HF_TOKEN", raising=False)


def files_holding(root, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(p) for p in sorted(root.rglob("*")) if p.is_file() and needle in p.read_bytes()]


def assert_nowhere(studio, capfd, *shown: str) -> None:
    out, err = capfd.readouterr()
    assert TOKEN not in out and TOKEN not in err
    assert all(TOKEN not in text for text in shown)
    assert files_holding(studio.ws.root, TOKEN) == []


def push_on_page(studio, token: str) -> str:
    client = gradio_client.Client(studio.url, verbose=False)
    return client.predict(studio.run_id, "me/nova", token, True, "en", api_name="/deploy_push")


@pytest.mark.parametrize("where", ["form", "environment"])
def test_a_token_given_to_the_page_is_never_written_logged_or_shown(studio, capfd, monkeypatch,
                                                                    where):
    before = fingerprint(studio.ws.root)
    if where == "environment":
        monkeypatch.setenv("HF_TOKEN", TOKEN)
    message = push_on_page(studio, TOKEN if where == "form" else "")
    assert message.startswith("⚠️") and UNREACHABLE in message
    assert_nowhere(studio, capfd, message)
    assert kept(before, fingerprint(studio.ws.root)) == {}
    monkeypatch.delenv("HF_TOKEN", raising=False)
    again = push_on_page(studio, "")  # the page still answers, and asks for a token
    assert "No Hugging Face token" in again


def test_a_token_given_to_studio_push_is_never_written_logged_or_shown(studio, capfd,
                                                                       monkeypatch):
    before = fingerprint(studio.ws.root)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    rc = studio_main(["push", studio.run_id, "me/nova", "--runs-dir", str(studio.ws.runs_dir),
                      "--exports-dir", str(studio.ws.root / "exports")])
    out, err = capfd.readouterr()
    assert rc == 2 and f"error: {UNREACHABLE}" in err
    assert TOKEN not in out and TOKEN not in err
    assert files_holding(studio.ws.root, TOKEN) == []
    assert kept(before, fingerprint(studio.ws.root)) == {}
