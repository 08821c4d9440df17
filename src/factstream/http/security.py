"""Bearer-token authentication.

When the app has a token (it must when bound to anything but loopback), every request needs
``Authorization: Bearer <token>``, except the liveness and readiness probes and the console's
static page and login. The web console logs in once (``POST /console/session``) and then
carries an HttpOnly, SameSite=Strict cookie derived from the token; with the cookie, writes
also need the ``X-Requested-With: factstream-console`` header (a cross-site form cannot send
it), so the cookie cannot be used for cross-site request forgery.

Request-size limits are enforced by Litestar (``request_max_body_size``, answered with 413).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from .problems import MEDIA_TYPE, problem_body

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = [
    "CONSOLE_HEADER",
    "SESSION_COOKIE",
    "TokenAuthMiddleware",
    "session_value",
]

SESSION_COOKIE = "factstream_session"
CONSOLE_HEADER = ("x-requested-with", "factstream-console")
_OPEN_PATHS = frozenset({"/health/live", "/health/ready", "/console", "/console/session"})
_OPEN_PREFIXES = ("/console/static/",)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_value(token: str) -> str:
    """The console session cookie's value for ``token`` (not the token itself)."""
    return hmac.new(token.encode(), b"factstream console session", hashlib.sha256).hexdigest()


def _is_open(path: str) -> bool:
    return path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES)


class TokenAuthMiddleware:
    """ASGI middleware refusing requests without the bearer token (401, problem+json)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._bearer = f"Bearer {token}".encode()
        self._session = session_value(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_open(scope["path"]) or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        body = problem_body(
            401,
            "send the bearer token: 'Authorization: Bearer <token>'",
            kind="unauthorized",
            instance=scope["path"],
        )
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="factstream"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _allowed(self, scope: Scope) -> bool:
        authorization = b""
        cookie = b""
        console = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"cookie":
                cookie = value
            elif name.decode("latin-1") == CONSOLE_HEADER[0]:
                console = value.decode("latin-1") == CONSOLE_HEADER[1]
        if authorization:
            return hmac.compare_digest(authorization, self._bearer)
        if not cookie:
            return False
        if scope["method"] not in _SAFE_METHODS and not console:
            return False
        try:
            jar = SimpleCookie(cookie.decode("latin-1"))
        except CookieError:
            return False
        morsel = jar.get(SESSION_COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value, self._session)
