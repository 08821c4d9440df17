"""The SQLite event store: the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ...events import (
    AppendResult,
    ExpectedVersion,
    RecordedEvent,
    StoreUnavailable,
    UnsupportedUrl,
)
from ..base import StoreBase
from ..encoding import EncodedEvent
from ..envelope import decode_envelope
from ..limits import StoreLimits
from .connection import SqliteSettings, open_connection
from .schema import migrate
from .writer import AppendRequest, SqliteWriter

__all__ = ["SqliteEventStore"]

_log = logging.getLogger("factstream.store.sqlite")

T = TypeVar("T")

_READ_FORWARD = (
    "SELECT body FROM events WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ?"
)
_READ_BACKWARD = (
    "SELECT body FROM events WHERE stream_id = ? AND version <= ? ORDER BY version DESC LIMIT ?"
)
_READ_ALL = "SELECT body FROM events WHERE position >= ? ORDER BY position LIMIT ?"
_STREAM_VERSION = "SELECT version FROM events WHERE stream_id = ? ORDER BY version DESC LIMIT 1"
_HEAD = "SELECT max(position) FROM events"
_NO_LIMIT = -1  # SQLite's LIMIT -1 means none
_MAX_VERSION = 2**63 - 1


class SqliteEventStore(StoreBase):
    """An event store in one SQLite file (WAL mode), shared safely by several processes.

    Open it with ``await fs.connect("sqlite:///events.db")`` or :meth:`open`.
    Use it from one event loop.
    """

    def __init__(self, settings: SqliteSettings, limits: StoreLimits | None = None) -> None:
        super().__init__(limits)
        self.settings = settings
        self._writer = SqliteWriter(settings, self._notifier.advance)
        self._executor = ThreadPoolExecutor(
            max_workers=settings.readers, thread_name_prefix="factstream-sqlite-reader"
        )
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._room = asyncio.Semaphore(settings.max_pending_appends)
        self._subscribers = 0
        self._watcher: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], *, limits: StoreLimits | None = None, **options: Any
    ) -> SqliteEventStore:
        """Open (and create or migrate) the store in the file at ``path``.

        Keyword options are the fields of :class:`SqliteSettings`.
        """
        try:
            settings = SqliteSettings(path=os.fspath(path), **options)
        except TypeError as exc:
            known = ", ".join(f for f in SqliteSettings.__dataclass_fields__ if f != "path")
            raise UnsupportedUrl(f"unknown SQLite option: {exc}; known options: {known}") from exc
        if settings.synchronous not in ("FULL", "NORMAL"):
            raise UnsupportedUrl(
                f"synchronous must be 'full' or 'normal', got {settings.synchronous!r}"
            )
        store = cls(settings, limits)
        try:
            await asyncio.to_thread(store._prepare)
            store._notifier.advance(await store.head_position())
        except BaseException:
            await store._close()
            raise
        return store

    def _prepare(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.settings.path))
        if not os.path.isdir(directory):
            raise StoreUnavailable(
                f"cannot open {self.settings.path!r}: folder {directory!r} does not exist"
            )
        conn = open_connection(self.settings)
        try:
            migrate(conn)
        finally:
            conn.close()
        self._writer.start()

    # -- appends --------------------------------------------------------------------------

    async def _append(
        self, stream_id: str, batch: list[EncodedEvent], expected: ExpectedVersion
    ) -> AppendResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AppendResult] = loop.create_future()
        async with self._room:
            self._writer.submit(AppendRequest(stream_id, batch, expected, future, loop))
            return await future

    def commit_counts(self) -> tuple[int, int]:
        """(write transactions committed, appends decided in them) since the store opened."""
        return self._writer.transactions, self._writer.appends

    # -- reads ----------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None:
            conn = open_connection(self.settings)
            local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    async def _in_reader(self, work: Callable[..., T], *args: Any) -> T:
        self._check_open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work, *args)

    def _query_events(self, sql: str, params: tuple[Any, ...]) -> list[RecordedEvent]:
        decode = decode_envelope
        return [decode(body) for (body,) in self._reader().execute(sql, params)]

    def _query_scalar(self, sql: str, params: tuple[Any, ...]) -> int:
        conn = self._reader()
        # fetchall, not fetchone: a statement left unfinished keeps its read transaction open,
        # which stops WAL checkpoints from making progress.
        rows = conn.execute(sql, params).fetchall()
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    async def _read_stream(
        self, stream_id: str, from_version: int | None, limit: int | None, backwards: bool
    ) -> list[RecordedEvent]:
        count = _NO_LIMIT if limit is None else limit
        if backwards:
            start = _MAX_VERSION if from_version is None else from_version
            return await self._in_reader(
                self._query_events, _READ_BACKWARD, (stream_id, start, count)
            )
        start = 1 if from_version is None else from_version
        return await self._in_reader(self._query_events, _READ_FORWARD, (stream_id, start, count))

    async def _read_all_page(self, from_position: int, limit: int) -> list[RecordedEvent]:
        return await self._in_reader(self._query_events, _READ_ALL, (from_position, limit))

    async def stream_version(self, stream_id: str) -> int:
        return await self._in_reader(self._query_scalar, _STREAM_VERSION, (stream_id,))

    async def head_position(self) -> int:
        return await self._in_reader(self._query_scalar, _HEAD, ())

    # -- noticing other processes' commits ------------------------------------------------

    def _subscription_started(self) -> None:
        self._subscribers += 1
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(
                self._watch(), name="factstream-sqlite-watcher"
            )

    def _subscription_ended(self) -> None:
        self._subscribers -= 1

    async def _watch(self) -> None:
        """While anyone subscribes, poll ``PRAGMA data_version`` to see other processes' commits."""
        conn: sqlite3.Connection | None = None
        last: int | None = None
        try:
            while self._subscribers > 0 and not self.closed:
                try:
                    if conn is None:
                        conn = await asyncio.to_thread(open_connection, self.settings)
                    version, head = await asyncio.to_thread(_data_version_and_head, conn, last)
                except sqlite3.Error:
                    # Subscribers must not stop seeing other processes' commits over a hiccup
                    # (a locked or briefly missing file): log, reconnect, go on polling.
                    _log.warning(
                        "watching %s for commits failed; retrying",
                        self.settings.path,
                        exc_info=True,
                    )
                    if conn is not None:
                        conn.close()
                        conn = None
                    self._notifier.poke()
                else:
                    if version != last:
                        last = version
                        self._notifier.advance(head)
                await asyncio.sleep(self.settings.poll_interval)
        finally:
            if conn is not None:
                conn.close()

    # -- closing --------------------------------------------------------------------------

    async def _close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._writer.alive:
            await asyncio.to_thread(self._writer.stop)
        self._executor.shutdown(wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()


def _data_version_and_head(conn: sqlite3.Connection, last: int | None) -> tuple[int, int]:
    version = int(conn.execute("PRAGMA data_version").fetchall()[0][0])
    if version == last:
        return version, 0
    return version, int(conn.execute(_HEAD).fetchall()[0][0] or 0)
