"""Bearer tokens off loopback, the console's cookie session, request size limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from factstream.http import HttpSettings, is_loopback

from .conftest import AppFactory
from .support import TOKEN, running


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_loopback_hosts_are_recognised(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "example.org", ""])
def test_binding_off_loopback_without_a_token_is_refused(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ValueError, match="needs a bearer token"):
        HttpSettings(host=host)
    HttpSettings(host=host, token=TOKEN)


def test_short_tokens_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        HttpSettings(token="short")


async def test_requests_need_the_bearer_token(make_app: AppFactory) -> None:
    app = make_app(HttpSettings(host="0.0.0.0", token=TOKEN))
    async with running(app) as client:
        refused = await client.get("/info")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"].startswith("Bearer")
        wrong = await client.get("/info", headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status_code == 401
        ok = await client.get("/info", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        assert ok.json()["features"]["token_required"] is True
        write = await client.post("/counters")
        assert write.status_code == 401
        assert (await client.get("/schema/openapi.json")).status_code == 401


async def test_probes_and_the_console_page_are_open(make_app: AppFactory) -> None:
    async with running(make_app(HttpSettings(token=TOKEN))) as client:
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/health/ready")).status_code == 200
        assert (await client.get("/console")).status_code == 200
        assert (await client.get("/console/static/console.js")).status_code == 200


async def test_the_console_session_cookie_stands_in_for_the_token(make_app: AppFactory) -> None:
    async with running(make_app(HttpSettings(token=TOKEN))) as client:
        bad = await client.post("/console/session", json={"token": "not-the-token-at-all"})
        assert bad.status_code == 401
        good = await client.post("/console/session", json={"token": TOKEN})
        assert good.status_code == 200
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower()
        assert TOKEN not in cookie
        assert (await client.get("/info")).status_code == 200  # the client keeps the cookie
        # A write with only the cookie also needs the console's header (no cross-site forms).
        assert (await client.post("/counters")).status_code == 401
        console = {"X-Requested-With": "factstream-console"}
        assert (await client.post("/counters", headers=console)).status_code == 201
        await client.delete("/console/session", headers=console)
        client.cookies.clear()
        assert (await client.get("/info")).status_code == 401


async def test_bodies_over_the_limit_are_413(make_app: AppFactory) -> None:
    app = make_app(HttpSettings(max_body_bytes=1000))
    async with running(app) as client:
        counter_id = (await client.post("/counters")).json()["counter_id"]
        big = b'{"by": 1, "pad": "' + b"x" * 2000 + b'"}'
        response = await client.post(
            f"/counters/{counter_id}/increment",
            content=big,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "urn:factstream:problem:too-large"

        async def chunks() -> AsyncIterator[
            bytes
        ]:  # no Content-Length: the limit counts streamed bytes
            for _ in range(5):
                yield b"x" * 500

        streamed = await client.post(
            f"/counters/{counter_id}/increment",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert streamed.status_code == 413
