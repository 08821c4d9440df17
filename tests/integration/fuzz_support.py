"""What the schemathesis tests share: an app served in a thread with its own event loop (the
fuzzer calls it synchronously), and the check that every error is a problem document."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

__all__ = ["ThreadedServer", "fuzz_settings", "call_and_check", "problem_documents"]


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings for a schemathesis test: bounded examples, no deadline (a real
    server answers), no health checks about slow or filtered data."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def call_and_check(case: Any, base: str, headers: dict[str, str]) -> None:
    """Send ``case`` to the server at ``base``: no 5xx, every error a problem document."""
    case.call_and_validate(
        base_url=base,
        headers={**headers, **(case.headers or {})},
        timeout=10,
        checks=[not_a_server_error, problem_documents],
    )


class ThreadedServer:
    """Runs ``serve()`` (an async context that serves an app and yields its base URL) on a
    thread with its own event loop, from ``with`` until its end."""

    def __init__(self, serve: Callable[[], AbstractAsyncContextManager[str]]) -> None:
        self._serve_app = serve
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.base = ""
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        if not self._ready.wait(60) or self.error is not None:
            raise RuntimeError(f"the server did not start: {self.error!r}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self.error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self._serve_app() as base:
            self.base = base
            self._ready.set()
            await self._stop.wait()


def problem_documents(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schemathesis check: every error is ``application/problem+json`` with no traceback."""
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/problem+json"), (
            f"{response.status_code} answered with {content_type!r}"
        )
        assert "Traceback" not in response.text
    return None
