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
