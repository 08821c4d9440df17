"""Wake-ups from other processes: one LISTEN connection per store, reconnected when lost.

A notification carries nothing but "the log moved"; subscribers then read by position. Missing
one costs latency, never an event: subscribers also poll. After every (re)connection the
listener wakes subscribers once, since commits may have happened while it was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from .connection import is_disconnect

__all__ = ["NotificationListener"]

_log = logging.getLogger("factstream.store.postgres")


class NotificationListener:
    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        channel: str,
        wake: Callable[[], None],
        own_pid: Callable[[], int | None],
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._wake = wake
        self._own_pid = own_pid
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="factstream-postgres-listener"
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_notification(self, _conn: object, pid: int, _channel: str, _payload: object) -> None:
        if pid != self._own_pid():  # our own commits wake our subscribers directly
            self._wake()

    async def _run(self) -> None:
        delay = 0.05
        while True:
            lost = asyncio.Event()
            conn: asyncpg.Connection | None = None
            try:
                conn = await self._connect()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(self._channel, self._on_notification)
                delay = 0.05
                self._wake()
                await lost.wait()
            except Exception as exc:
                if not is_disconnect(exc):
                    _log.warning("LISTEN connection failed, retrying: %r", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                if conn is not None:
                    conn.terminate()
