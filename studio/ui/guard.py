"""The page server's own guard: which hosts it answers, and an optional per-launch token.

Binding to 127.0.0.1 keeps other machines out, not other web pages: a site the user visits can
point its own domain at 127.0.0.1 (DNS rebinding) or post to the studio from its own origin, and
Gradio checks neither. ``PageGuard`` is an ASGI middleware placed in front of Gradio that refuses
any request whose Host or Origin is not this server's own loopback address. With ``--token`` it
also asks every request for the launch's token: the console prints a link carrying it once
(``/?token=...``), the browser keeps it in a cookie, scripts send ``Authorization: Bearer ...``;
so another local user cannot drive the studio either, even the endpoints the page hides.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, RedirectResponse

from studio.engine.serve.hosts import refusal

COOKIE = "studio_token"
# Gradio calls this on itself once at launch, without the token; it only starts the queue and
# does nothing when called again.
OPEN_PATHS = ("/gradio_api/startup-events",)


class PageGuard:
    """Refuse requests for other hosts (``hosts``, None = any) and, when ``token`` is set,
    requests that do not carry it."""

    def __init__(self, app, hosts: set[str] | None = None, token: str | None = None):
        self.app, self.hosts, self.token = app, hosts, token

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        refusal = self._host_refusal(headers) or self._token_refusal(scope, headers)
        if refusal is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":  # no HTTP response on a socket: close it unopened
            return await send({"type": "websocket.close", "code": 1008})
        return await refusal(scope, receive, send)

    def _host_refusal(self, headers: Headers):
        kind = self.hosts and refusal(headers.get("host", ""), headers.get("origin"), self.hosts)
        if kind == "origin":
            return PlainTextResponse("Refused: this studio does not answer requests from "
                                     "another site.", status_code=403)
        if kind == "host":
            return PlainTextResponse("Refused: this studio answers only on its own address "
                                     f"({sorted(self.hosts)[0]}).", status_code=403)
        return None

    def _token_refusal(self, scope, headers: Headers):
        if not self.token or scope.get("path") in OPEN_PATHS:
            return None
        given = parse_qs(scope.get("query_string", b"").decode()).get("token", [""])[0]
        if self._matches(given) and scope.get("method") == "GET":
            # Keep the token in a cookie and drop it from the address bar (and the history).
            response = RedirectResponse(scope.get("path") or "/", status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return response
        bearer = headers.get("authorization", "")
        bearer = bearer[7:].strip() if bearer.lower().startswith("bearer ") else ""
        cookie = _cookie(headers.get("cookie", ""), COOKIE)
        if self._matches(bearer) or self._matches(cookie):
            return None
        return PlainTextResponse("This studio needs its launch token: open the link printed in "
                                 "the console where it was started (it ends with ?token=...), "
                                 "or send 'Authorization: Bearer <token>'.", status_code=401)

    def _matches(self, given: str) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""
