"""Handing an append's outcome to its caller."""

from __future__ import annotations

import asyncio

from ..events import AppendResult

__all__ = ["settle"]


def settle(future: asyncio.Future[AppendResult], outcome: AppendResult | BaseException) -> None:
    """Resolve ``future`` with the append's result or error. A caller that was cancelled gets
    nothing: its append's outcome stands all the same."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
