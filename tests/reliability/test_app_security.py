"""The page server's doors: hosts, the launch token, the login, the public API, downloads, uploads.

Each test drives the studio the way an outsider would (httpx with a forged Host or Origin,
``gradio_client`` without credentials, a browser following the printed link) and checks three
things: the refusal says what is wrong, the real user's next request is answered, and nothing in
the workspace changed.
"""

from __future__ import annotations

import hashlib

import httpx
import pytest
from gradio_client import Client

from studio.ui.app import SCRIPT_ENDPOINTS
from tests.ui_server import launch_studio, open_browser

pytestmark = pytest.mark.reliability

TOKEN = "launch-token-for-tests"


def tree_hash(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def studio(workspace):
    demo, url = launch_studio(workspace)
    yield url, workspace
    demo.close()


def test_forged_host_and_foreign_origin_are_refused(studio):
    url, workspace = studio
    before = tree_hash(workspace.root)
    port = url.rstrip("/").rsplit(":", 1)[-1]
    rebound = httpx.get(f"{url}config", headers={"Host": f"attacker.example:{port}"})
    assert rebound.status_code == 403 and "its own address" in rebound.text
    cross = httpx.post(f"{url}gradio_api/queue/join", json={},
                       headers={"Origin": "https://attacker.example"})
    assert cross.status_code == 403 and "another site" in cross.text
    runs = Client(url, verbose=False).predict("en", None, api_name="/runs_list")
    assert runs  # the real page's next request is answered
    assert httpx.get(f"http://localhost:{port}/config").status_code == 200
    assert tree_hash(workspace.root) == before


def test_only_the_script_endpoints_are_public(studio):
    url, _ = studio
    client = Client(url, verbose=False)
    named = {name.strip("/") for name in
             client.view_api(return_format="dict", print_info=False)["named_endpoints"]}
    assert named == SCRIPT_ENDPOINTS
    with pytest.raises(ValueError, match="updates"):  # the language switch is page plumbing
        client.predict("zh", api_name="/updates")


def test_files_outside_the_workspace_exports_are_not_served(studio, tmp_path_factory):
    url, workspace = studio
    exported = workspace.root / "exports" / "run-1" / "model-card.md"
    exported.parent.mkdir(parents=True)
    exported.write_text("# my export\n", encoding="utf-8")
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.txt"
    outside.write_text("not for the page\n", encoding="utf-8")
    for path in ("/etc/passwd", str(outside), str(workspace.root.parent / "README.md")):
        refused = httpx.get(f"{url}gradio_api/file={path}")
        assert refused.status_code in (403, 404), path
        assert "not for the page" not in refused.text and "root:" not in refused.text
    served = httpx.get(f"{url}gradio_api/file={exported}")
    assert served.status_code == 200 and served.text == "# my export\n"


def test_uploads_above_the_operator_limit_are_refused(workspace, tmp_path):
    demo, url = launch_studio(workspace, max_upload="2kb")
    try:
        big = tmp_path / "big.jsonl"
        row = '{"instruction": "hi", "output": "hello"}\n'
        big.write_text(row * 200, encoding="utf-8")  # ~8 KB
        before = big.read_bytes()
        client = Client(url, verbose=False)
        with pytest.raises(Exception, match="(?i)exceeds|too large|maximum"):
            client.predict(_file(big), "document", "en", api_name="/data_upload")
        assert big.read_bytes() == before
        assert client.predict("en", None, api_name="/runs_list")  # still answering
    finally:
        demo.close()


def _file(path):
    from gradio_client import handle_file

    return handle_file(str(path))


@pytest.fixture()
def token_studio(workspace):
    demo, url = launch_studio(workspace, token=TOKEN)
    yield url
    demo.close()


def test_token_keeps_other_local_users_and_pages_out(token_studio):
    url = token_studio
    bare = httpx.get(url)
    assert bare.status_code == 401 and "?token=" in bare.text
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    with pytest.raises(Exception, match="(?i)credentials|401|login"):
        Client(url, verbose=False)
    client = Client(url, headers={"Authorization": f"Bearer {TOKEN}"}, verbose=False)
    assert client.predict("en", None, api_name="/runs_list")


@pytest.mark.browser
def test_the_printed_link_opens_the_studio_and_drops_the_token(token_studio):
    from playwright.sync_api import expect

    with open_browser(locale="en-US") as page:
        page.goto(f"{token_studio}?token={TOKEN}", wait_until="load", timeout=120_000)
        assert "token=" not in page.url
        page.locator("#studio-lang").get_by_text("中文").click()  # answered by the server
        expect(page.get_by_role("tab", name="6 · 部署")).to_be_visible(timeout=30_000)
        page.context.clear_cookies()
        assert "launch token" in page.goto(token_studio).text()


def test_a_login_covers_the_api_too(workspace):
    demo, url = launch_studio(workspace, auth=("ada", "lovelace"))
    try:
        with pytest.raises(Exception, match="(?i)login|credentials"):
            Client(url, verbose=False)
        with pytest.raises(Exception, match="(?i)login|credentials|invalid"):
            Client(url, auth=("ada", "wrong"), verbose=False)
        client = Client(url, auth=("ada", "lovelace"), verbose=False)
        assert client.predict("en", None, api_name="/runs_list")
    finally:
        demo.close()
