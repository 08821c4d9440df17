"""Suite-wide fixtures: loop hygiene and access to the real services."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fail_on_loop_errors(request: pytest.FixtureRequest) -> None:
    # Only async tests have a loop to watch.
    if inspect.iscoroutinefunction(getattr(request, "function", None)):
        request.getfixturevalue("_loop_exception_guard")


@pytest.fixture
async def _loop_exception_guard() -> AsyncIterator[None]:
    """Fail a test that leaves an unhandled exception on the event loop (a lost task error)."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield
    loop.set_exception_handler(previous)
    if errors:
        pytest.fail(f"unhandled exceptions on the event loop: {errors!r}")
