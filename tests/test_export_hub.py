"""Pushing to the hub: a private repository created, then the folder uploaded; the token goes to
the hub client and nowhere else (no file, no log, no error text); every refusal is coded, and the
ones that need no network come before any call."""

from __future__ import annotations

import logging
import traceback

import httpx2
import huggingface_hub.constants
import pytest
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

from studio.engine.errors import ExportError
from studio.engine.export.hub import DEFAULT_COMMIT, push_to_hub

TOKEN = "hf_test_SecretToken1234567890"
ENV_TOKEN = "hf_env_OtherSecret0987654321"
CREATE_URL = "https://huggingface.co/api/repos/create"


class FakeApi:
    """Records every call as (method, args, kwargs); ``fail`` is raised by create_repo."""

    def __init__(self, fail: Exception | None = None):
        self.calls, self.fail = [], fail

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", (repo_id,), kwargs))
        if self.fail:
            raise self.fail
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", (), kwargs))
        return "commit"


@pytest.fixture()
def folder(tmp_path):
    out = tmp_path / "exported"
    out.mkdir()
    (out / "config.json").write_text("{}", encoding="utf-8")
    (out / "README.md").write_text("---\nlibrary_name: transformers\n---\n", encoding="utf-8")
    return out


@pytest.fixture(autouse=True)
def no_env_token(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)


def http_error(status: int) -> HfHubHTTPError:
    """What huggingface_hub raises for a refused request, here echoing the token it was sent."""
    response = httpx2.Response(status, request=httpx2.Request("POST", CREATE_URL))
    return HfHubHTTPError(f"{status} Client Error for url {CREATE_URL} (token {TOKEN})",
                          response=response)


def refused(api, folder, repo_id="acme/nova", **kwargs) -> ExportError:
    with pytest.raises(ExportError) as err:
        push_to_hub(folder, repo_id, api=api, **kwargs)
    return err.value


def assert_no_token(exc: BaseException) -> None:
    """Neither the message nor anything a traceback prints (causes, contexts) holds the token."""
    assert TOKEN not in str(exc)
    assert TOKEN not in "".join(traceback.format_exception(exc))
    assert exc.__cause__ is None and exc.__context__ is None


def test_push_creates_a_private_repo_then_uploads_the_folder(folder):
    api = FakeApi()
    assert push_to_hub(folder, "acme/nova", token=TOKEN, api=api) == \
        "https://huggingface.co/acme/nova"
    assert api.calls == [
        ("create_repo", ("acme/nova",),
         {"token": TOKEN, "private": True, "exist_ok": True, "repo_type": "model"}),
        ("upload_folder", (),
         {"repo_id": "acme/nova", "folder_path": str(folder), "token": TOKEN,
          "repo_type": "model", "commit_message": DEFAULT_COMMIT}),
    ]


def test_public_and_commit_message_are_passed_on(folder):
    api = FakeApi()
    push_to_hub(folder, "acme/nova", token=TOKEN, private=False, api=api,
                commit_message="Nova v2")
    assert api.calls[0][2]["private"] is False
    assert api.calls[1][2]["commit_message"] == "Nova v2"


def test_the_token_comes_from_hf_token_when_not_given(folder, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", ENV_TOKEN)
    api = FakeApi()
    push_to_hub(folder, "acme/nova", api=api)
    assert [call[2]["token"] for call in api.calls] == [ENV_TOKEN, ENV_TOKEN]
    api = FakeApi()
    push_to_hub(folder, "acme/nova", token=TOKEN, api=api)  # the one given wins
    assert [call[2]["token"] for call in api.calls] == [TOKEN, TOKEN]


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_is_refused_before_any_call(folder, token):
    api = FakeApi()
    err = refused(api, folder, token=token)
    assert err.reason.code == "hub_no_token" and "HF_TOKEN" in str(err)
    assert api.calls == []


@pytest.mark.parametrize("repo_id", ["nova", "acme/", "/nova", "acme/nova/v2", "acme/no va",
                                     "acme/no--va", "acme/nova.git", "", "-acme/nova"])
def test_a_bad_repo_id_is_refused_before_any_call(folder, repo_id):
    api = FakeApi()
    err = refused(api, folder, repo_id, token=TOKEN)
    assert err.reason.code == "hub_repo_id" and err.reason.params == {"repo_id": repo_id}
    assert api.calls == []


def test_a_missing_folder_is_refused_before_any_call(tmp_path):
    api = FakeApi()
    err = refused(api, tmp_path / "never-exported", token=TOKEN)
    assert err.reason.code == "hub_folder_missing"
    assert api.calls == []  # no empty repository is created for nothing to upload


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_named_and_never_echoed(folder, status):
    api = FakeApi(fail=http_error(status))
    err = refused(api, folder, token=TOKEN)
    assert err.reason.code == "hub_auth"
    assert err.reason.params == {"status": status, "repo_id": "acme/nova"}
    assert_no_token(err)
    assert [call[0] for call in api.calls] == ["create_repo"]  # nothing uploaded after


def test_another_hub_refusal_keeps_the_hub_words_without_the_token(folder):
    err = refused(FakeApi(fail=http_error(500)), folder, token=TOKEN)
    assert err.reason.code == "hub_refused" and err.reason.params["status"] == 500
    assert "500 Client Error" in err.reason.params["detail"]
    assert "(token ***)" in err.reason.params["detail"]
    assert_no_token(err)


@pytest.mark.parametrize("failure", [httpx2.ConnectError("[Errno -2] Name or service not known"),
                                     OfflineModeIsEnabled("offline mode is enabled"),
                                     TimeoutError("timed out")])
def test_an_unreachable_hub_has_its_own_code(folder, failure):
    err = refused(FakeApi(fail=failure), folder, token=TOKEN)
    assert err.reason.code == "hub_unreachable"
    assert err.reason.params["detail"] == str(failure)


def test_a_bug_in_the_client_keeps_its_traceback_but_not_the_token(folder):
    with pytest.raises(RuntimeError) as err:
        push_to_hub(folder, "acme/nova", token=TOKEN, api=FakeApi(fail=KeyError(TOKEN)))
    assert "KeyError" in str(err.value)
    assert_no_token(err.value)
    assert any(frame.name == "create_repo" for frame in traceback.extract_tb(err.tb))


def test_the_token_reaches_no_file_and_no_log(folder, tmp_path, monkeypatch, caplog):
    """Through the real client (offline, so no request leaves), with its token files pointed
    into tmp_path: afterwards no file there and no log record holds the token."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "hf/token"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_STORED_TOKENS_PATH",
                        str(tmp_path / "hf/stored_tokens"))
    caplog.set_level(logging.DEBUG)
    err = refused(None, folder, token=TOKEN)  # api=None: huggingface_hub's own HfApi
    assert err.reason.code == "hub_unreachable"
    assert_no_token(err)
    push_to_hub(folder, "acme/nova", token=TOKEN, api=FakeApi())
    refused(FakeApi(fail=http_error(401)), folder, token=TOKEN)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(TOKEN.encode() not in p.read_bytes() for p in files)
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
