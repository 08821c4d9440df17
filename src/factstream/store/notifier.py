"""Wake-ups for subscribers when the head of the log moves."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["HeadNotifier"]


class HeadNotifier:
    """Tracks the highest committed position this process knows of and wakes waiters.

    Backends call :meth:`advance` (on the event loop) after a commit becomes visible; subscribers
    call :meth:`wait` when they have read everything. It carries no events, only a hint, so a
    missed or early wake-up costs one extra query and never an event.
    """

    __slots__ = ("_changed", "_closed", "_head")

    def __init__(self, head: int = 0) -> None:
        self._head = head
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def head(self) -> int:
        return self._head

    @property
    def closed(self) -> bool:
        return self._closed

    def advance(self, head: int) -> None:
        if head > self._head:
            self._head = head
            self._pulse()

    def poke(self) -> None:
        """Wake every waiter without a known head (something may have changed elsewhere)."""
        self._pulse()

    def close(self) -> None:
        self._closed = True
        self._pulse()

    def _pulse(self) -> None:
        changed = self._changed
        self._changed = asyncio.Event()
        changed.set()

    async def wait(self, beyond: int, timeout: float | None) -> None:
        """Return once the head is past ``beyond``, on a poke, on close, or after ``timeout``."""
        if self._head > beyond or self._closed:
            return
        changed = self._changed
        if timeout is None:
            await changed.wait()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await changed.wait()
