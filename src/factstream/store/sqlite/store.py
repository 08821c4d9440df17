"""The SQLite event store: the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ...events import (
    AppendResult,
    ExpectedVersion,
    RecordedEvent,
    StoreClosed,
    StoreUnavailable,
    UnsupportedUrl,
)
from ..base import Link, StoreBase
from ..catalog import StreamInfo, listing_bounds, stream_info
from ..encoding import EncodedEvent
from ..envelope import decode_envelope
from ..limits import StoreLimits
from . import lookups
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
_INLINE_ROWS = 128  # read on the loop's thread; the rest of a longer result in a reader thread
_MAX_VERSION = 2**63 - 1
# A sequential appender that finds nothing else ready commits without giving the loop a turn,
# but still gives it one at least this often (seconds), so timers and I/O are not held back.
_TURN_EVERY = 0.001


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
        self._pending: list[AppendRequest] = []
        self._turn_due = 0.0
        self._loop_conn: sqlite3.Connection | None = None
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
            pending = self._pending
            pending.append(AppendRequest(stream_id, batch, expected, future, loop))
            if len(pending) == 1:
                if self._alone_in_turn(loop):
                    self._flush()
                else:
                    # The first append of a turn of the loop yields for one turn, so that
                    # every task ready in this turn can add its append, then hands them all
                    # over.
                    try:
                        await asyncio.sleep(0)
                    finally:
                        self._flush()  # even when cancelled: the others' appends wait on it
            return await future

    def _alone_in_turn(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether waiting for a turn of the loop cannot add appends to this one's group.

        It cannot when no other callback is ready: I/O and timers that become ready during
        the next turn run after this task's own wake-up, too late for its group either way.
        So a sequential caller skips the turn (and its poll for I/O). At least every
        ``_TURN_EVERY`` seconds it takes the turn anyway, so a caller appending in a tight
        loop never holds back the loop's timers and I/O for long. asyncio's own loops expose
        their ready queue as ``_ready``; with a loop that does not (uvloop), every first
        append of a turn takes the turn, as before.
        """
        ready = getattr(loop, "_ready", None)
        now = loop.time()
        if ready is None or len(ready) > 0 or now >= self._turn_due:
            self._turn_due = now + _TURN_EVERY
            return False
        return True

    def _flush(self) -> None:
        """Hand the appends made in the last turn of the loop to the writer.

        A lone append, with the writer idle, is committed right here on the loop's thread:
        a sequential caller then pays for its commit and nothing else. Appends from several
        tasks in the same turn go to the writer thread as one group, so one commit serves them
        all while the loop goes on preparing the next group.
        """
        pending, self._pending = self._pending, []
        if not self._writer.alive:  # closed while these waited for their turn
            for request in pending:
                if not request.future.done():
                    request.future.set_exception(StoreClosed(f"{type(self).__name__} is closed"))
            return
        direct = len(pending) == 1 and self.settings.direct_commits
        if direct and self._writer.try_direct(pending[0]):
            return
        for request in pending:
            self._writer.submit(request)

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
        try:
            return [decode(body) for (body,) in self._reader().execute(sql, params)]
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"reading {self.settings.path!r} failed: {exc}") from exc

    # Reads start on the event loop's own connection: an indexed read of a few rows from a WAL
    # file takes microseconds and never waits for writers, less than handing it to a thread
    # and back (which under load costs more than the read). Only the part of a result beyond
    # _INLINE_ROWS rows goes to the reader threads, so the loop is never held for long.

    def _inline(self) -> sqlite3.Connection:
        self._check_open()
        conn = self._loop_conn
        if conn is None:
            conn = self._loop_conn = open_connection(self.settings)
        return conn

    def _query_inline(self, sql: str, params: tuple[Any, ...]) -> list[RecordedEvent]:
        decode = decode_envelope
        try:
            return [decode(body) for (body,) in self._inline().execute(sql, params).fetchall()]
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"reading {self.settings.path!r} failed: {exc}") from exc

    def _scalar_inline(self, sql: str, params: tuple[Any, ...]) -> int:
        try:
            rows = self._inline().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"reading {self.settings.path!r} failed: {exc}") from exc
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    async def _read_stream(
        self, stream_id: str, from_version: int | None, limit: int | None, backwards: bool
    ) -> list[RecordedEvent]:
        sql = _READ_BACKWARD if backwards else _READ_FORWARD
        start = from_version or (_MAX_VERSION if backwards else 1)
        first = self._query_inline(sql, (stream_id, start, _capped(limit)))
        if len(first) < _INLINE_ROWS or limit == _INLINE_ROWS:
            return first
        start = first[-1].version + (-1 if backwards else 1)
        if start < 1:
            return first
        rest_limit = _NO_LIMIT if limit is None else limit - len(first)
        rest = await self._in_reader(self._query_events, sql, (stream_id, start, rest_limit))
        return first + rest

    async def _read_all_page(self, from_position: int, limit: int) -> list[RecordedEvent]:
        first = self._query_inline(_READ_ALL, (from_position, _capped(limit)))
        if len(first) < _INLINE_ROWS or limit <= _INLINE_ROWS:
            return first
        rest = await self._in_reader(
            self._query_events, _READ_ALL, (first[-1].position + 1, limit - len(first))
        )
        return first + rest

    # -- lookups (store/catalog.py) -------------------------------------------------------

    async def _list_streams(self, prefix: str, after: str, limit: int) -> list[StreamInfo]:
        low, strict, high = listing_bounds(prefix, after)
        sql = lookups.list_streams(strict, high is not None)
        params = (low, high, limit) if high is not None else (low, limit)
        # Grouping reads every version of the listed streams: in a reader thread.
        return [
            stream_info(last) for last in await self._in_reader(self._query_events, sql, params)
        ]

    async def _event_at(self, position: int) -> RecordedEvent | None:
        found = self._query_inline(lookups.BY_POSITION, (position,))
        return found[0] if found else None

    async def _event_by_id(self, event_id: uuid.UUID) -> RecordedEvent | None:
        found = self._query_inline(lookups.BY_ID, (event_id.bytes,))
        return found[0] if found else None

    async def _events_linked(
        self, link: Link, value: str, from_position: int, limit: int
    ) -> list[RecordedEvent]:
        sql = lookups.LINKED[link]
        return await self._in_reader(self._query_events, sql, (value, from_position, limit))

    async def stream_version(self, stream_id: str) -> int:
        return self._scalar_inline(_STREAM_VERSION, (stream_id,))

    async def head_position(self) -> int:
        return self._scalar_inline(_HEAD, ())

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
                        conn = open_connection(self.settings)
                    # A pragma answered from the WAL index in shared memory: no I/O, no waiting.
                    version, head = _data_version_and_head(conn, last)
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
        self._flush()  # appends made in this very turn still go to the writer
        if self._writer.alive:
            await asyncio.to_thread(self._writer.stop)
        self._executor.shutdown(wait=True)
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()


def _capped(limit: int | None) -> int:
    return _INLINE_ROWS if limit is None else min(limit, _INLINE_ROWS)


def _data_version_and_head(conn: sqlite3.Connection, last: int | None) -> tuple[int, int]:
    version = int(conn.execute("PRAGMA data_version").fetchall()[0][0])
    if version == last:
        return version, 0
    return version, int(conn.execute(_HEAD).fetchall()[0][0] or 0)
