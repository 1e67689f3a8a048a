"""Which requests a loopback server answers: those addressed to this machine, by name and port.

A web page on another site can point its own domain at 127.0.0.1 (DNS rebinding) and have the
browser call a local server; the request then carries that domain as its ``Host``, or the page's
site as its ``Origin``. The API server and the studio's page server both refuse such requests
with this one check (it imports nothing heavy: the page must not wait for torch to be guarded).
"""

from __future__ import annotations

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
LOOPBACK_ADDRESSES = ("127.0.0.1", "localhost", "::1")  # as --host names them


def is_loopback(host: str, share: bool = False) -> bool:
    """Whether a server bound to ``host`` is reachable from this machine only."""
    return host in LOOPBACK_ADDRESSES and not share


def loopback_hosts(port: int) -> set[str]:
    """The ``Host`` values a loopback server on ``port`` answers to."""
    return {f"{name}:{port}" for name in LOOPBACK_NAMES}


def refusal(host: str, origin: str | None, hosts: set[str]) -> str | None:
    """``"origin"`` for a request from another site, ``"host"`` for one addressed to another
    name, None for a request this server should answer."""
    if origin and origin.split("://", 1)[-1] not in hosts:
        return "origin"
    return None if host in hosts else "host"
