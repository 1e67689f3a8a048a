"""A refused path names the allowed folders without revealing where they are on the server."""

from __future__ import annotations

import pytest

from studio.engine.errors import PathError
from studio.engine.workspace import ASSETS, Workspace

pytestmark = pytest.mark.reliability


@pytest.mark.parametrize("asked", ["/etc/passwd", "../../etc/passwd", "~/.ssh/id_rsa"])
def test_a_refused_path_reveals_no_server_folder(tmp_path, asked):
    extra = tmp_path / "team-data"
    extra.mkdir()
    ws = Workspace(tmp_path / "ws", [extra])
    (tmp_path / "ws").mkdir()
    with pytest.raises(PathError) as refused:
        ws.resolve(asked)
    message = str(refused.value)
    assert "outside the workspace" in message and "team-data/ (allowed at launch)" in message
    for secret in (str(tmp_path), str(ASSETS.parent)):
        assert secret not in message
