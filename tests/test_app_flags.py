"""app.py's launch flags: loopback by default, no sharing without a login."""

import pytest

import app


def test_defaults_bind_to_loopback():
    args = app.parse_args([])
    assert (args.host, args.port, args.auth, args.share) == ("127.0.0.1", 7860, None, False)


@pytest.mark.parametrize("flags", [["--share"], ["--host", "0.0.0.0"]])
def test_sharing_requires_auth(flags, capsys):
    with pytest.raises(SystemExit):
        app.parse_args(flags)
    assert app.PUBLIC_HOSTS_NEED_AUTH in capsys.readouterr().err
    assert app.parse_args([*flags, "--auth", "ada:secret"]).auth == "ada:secret"


@pytest.mark.parametrize("auth", ["nopassword", "ada:", ":secret", ""])
def test_auth_needs_user_and_password(auth):
    with pytest.raises(SystemExit):
        app.parse_args(["--auth", auth])


def test_the_workspace_is_a_folder_of_its_own(monkeypatch, tmp_path):
    from studio.engine.workspace import default_root

    monkeypatch.delenv("STUDIO_WORKSPACE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert app.parse_args([]).workspace is None  # main() then takes default_root()
    assert default_root() == tmp_path / "fine-tune-studio"  # never the folder it starts in
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "team"))
    assert default_root() == tmp_path / "team"


def test_remote_code_is_the_operators_choice_per_model():
    from studio.engine.workspace import Workspace

    args = app.parse_args(["--trust-remote-code", "acme/custom-llm"])
    ws = Workspace(".", [], frozenset(args.trust_remote_code))
    assert ws.trusts_remote_code("acme/custom-llm")
    assert not ws.trusts_remote_code("other/model")
    assert not Workspace(".").trusts_remote_code("acme/custom-llm")  # off unless named
    assert Workspace(".", [], frozenset({"*"})).trusts_remote_code("anything/at-all")


@pytest.mark.parametrize("size", ["lots", "10", "5 parsecs", "0mb"])
def test_upload_limit_needs_a_size(size, capsys):
    with pytest.raises(SystemExit):
        app.parse_args(["--max-upload", size])
    assert "--max-upload takes a size" in capsys.readouterr().err
    assert app.parse_args(["--max-upload", "2GB"]).max_upload == "2gb"
