"""The web console at ``/console``: one static page (plain JavaScript and SVG, no CDN, nothing
vendored) that browses streams and events, follows causation and correlation links, charts
projection lag, retries or skips dead letters, and tails the live feed.

The page uses the same JSON API as everyone else. When the server has a token, the page asks
for it once and ``POST /console/session`` turns it into an HttpOnly, SameSite=Strict cookie
(see :mod:`factstream.http.security`).
"""

import hmac
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody
from litestar.router import Router
from litestar.static_files import create_static_files_router

from .problems import Problem
from .security import SESSION_COOKIE, session_value
from .settings import HttpSettings

__all__ = ["console_routes"]

STATIC = Path(__file__).resolve().parent / "static"
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class Login(msgspec.Struct, frozen=True):
    token: str = msgspec.field()


class Session(msgspec.Struct, frozen=True):
    token_required: bool


def console_routes(settings: HttpSettings) -> list[HTTPRouteHandler | Router]:
    page = (
        (STATIC / "console.html")
        .read_text(encoding="utf-8")
        .replace("{{title}}", settings.title.replace("&", "&amp;").replace("<", "&lt;"))
    )

    @get("/console", include_in_schema=False, media_type="text/html")
    async def console() -> Response[str]:
        return Response(page, media_type="text/html", headers=_PAGE_HEADERS)

    @post("/console/session", include_in_schema=False, status_code=200)
    async def login(request: Request[Any, Any, Any], data: JSONBody[Login]) -> Response[Session]:
        token = settings.token
        if token is None:
            return Response(Session(token_required=False))
        if not hmac.compare_digest(data.token.encode(), token.encode()):
            raise Problem("that is not the server's token", status=401, kind="unauthorized")
        cookie = Cookie(
            key=SESSION_COOKIE,
            value=session_value(token),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return Response(Session(token_required=True), cookies=[cookie])

    @delete("/console/session", include_in_schema=False, status_code=200)
    async def logout() -> Response[Session]:
        gone = Cookie(key=SESSION_COOKIE, value="", path="/", max_age=0, httponly=True)
        return Response(Session(token_required=settings.token is not None), cookies=[gone])

    static = create_static_files_router(
        path="/console/static", directories=[STATIC], name="console-static"
    )
    return [console, login, logout, static]
