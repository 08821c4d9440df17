"""The single writer thread: group commit with one savepoint per append.

Appends from every task of the process queue here. The thread takes as many as are waiting,
opens one write transaction, applies each append inside its own savepoint (a conflict rolls back
that append only), commits once, and hands every caller its outcome. One fsync then serves the
whole group, which is where concurrent throughput comes from.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable
from typing import NamedTuple

from ...events import (
    AppendResult,
    DuplicateEventId,
    ExpectedVersion,
    StoreUnavailable,
    WrongExpectedVersion,
)
from ...events.versions import satisfied
from ..encoding import EncodedEvent, micros_now
from ..idempotency import StoredEvent, match_stored_batch
from .connection import SqliteSettings, open_connection

__all__ = ["AppendRequest", "SqliteWriter"]

_INSERT = (
    "INSERT INTO events (position, id, stream_id, version, type, schema_version, data, "
    "metadata, correlation_id, causation_id, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)
_STREAM_VERSION = "SELECT version FROM events WHERE stream_id = ? ORDER BY version DESC LIMIT 1"
_HEAD = "SELECT max(position) FROM events"
_MAX_PARAMS = 500

Outcome = AppendResult | BaseException


class AppendRequest(NamedTuple):
    stream_id: str
    batch: list[EncodedEvent]
    expected: ExpectedVersion
    future: asyncio.Future[AppendResult]
    loop: asyncio.AbstractEventLoop


class _Rejected(Exception):
    def __init__(self, error: BaseException) -> None:
        self.error = error


class SqliteWriter:
    """Owns the write connection and the thread that uses it."""

    def __init__(self, settings: SqliteSettings, on_commit: Callable[[int], None]) -> None:
        self._settings = settings
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[AppendRequest | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="factstream-sqlite-writer", daemon=True
        )
        self._conn: sqlite3.Connection | None = None
        self._started = threading.Event()
        self._startup_error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        if self._startup_error is not None:
            raise self._startup_error

    def submit(self, request: AppendRequest) -> None:
        self._queue.put(request)

    def stop(self) -> None:
        """Finish every queued append, then end the thread (blocking)."""
        self._queue.put(None)
        self._thread.join()

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._conn = open_connection(self._settings)
        except BaseException as exc:  # reported to start()
            self._startup_error = exc
            self._started.set()
            return
        self._started.set()
        conn = self._conn
        stopping = False
        try:
            while not stopping:
                first = self._queue.get()
                if first is None:
                    break
                group = [first]
                while len(group) < self._settings.max_group_requests:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stopping = True
                        break
                    group.append(more)
                self._commit_group(conn, group)
        finally:
            conn.close()
            # Anything still queued (only after an unexpected error) must not hang its caller.
            while True:
                try:
                    left = self._queue.get_nowait()
                except queue.Empty:
                    break
                if left is not None:
                    _deliver_soon([(left, StoreUnavailable("the SQLite writer stopped"))])

    def _commit_group(self, conn: sqlite3.Connection, group: list[AppendRequest]) -> None:
        outcomes: list[tuple[AppendRequest, Outcome]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            error = StoreUnavailable(f"could not start a write transaction on SQLite: {exc}")
            error.__cause__ = exc
            _deliver_soon([(request, error) for request in group])
            return
        try:
            head = conn.execute(_HEAD).fetchone()[0] or 0
            micros = micros_now()
            for request in group:
                conn.execute("SAVEPOINT append")
                try:
                    result, new = self._apply(conn, request, head, micros)
                except _Rejected as rejected:
                    conn.execute("ROLLBACK TO append")
                    conn.execute("RELEASE append")
                    outcomes.append((request, rejected.error))
                    continue
                conn.execute("RELEASE append")
                if new:
                    head = result.position
                outcomes.append((request, result))
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            error = StoreUnavailable(f"SQLite write transaction failed: {exc}")
            error.__cause__ = exc
            _deliver_soon([(request, error) for request in group])
            if not isinstance(exc, Exception):
                raise
            return
        for loop, items in _by_loop(outcomes).items():
            _call_soon(loop, self._finish, items, head)

    def _finish(self, items: list[tuple[AppendRequest, Outcome]], head: int) -> None:
        self._on_commit(head)
        _deliver(items)

    def _apply(
        self, conn: sqlite3.Connection, request: AppendRequest, head: int, micros: int
    ) -> tuple[AppendResult, bool]:
        stream_id, batch, expected = request.stream_id, request.batch, request.expected
        row = conn.execute(_STREAM_VERSION, (stream_id,)).fetchone()
        actual = row[0] if row else 0
        if not satisfied(expected, actual):
            existing = self._existing(conn, stream_id, batch)
            if existing is not None:
                return existing, False
            raise _Rejected(WrongExpectedVersion(stream_id, expected, actual))
        rows = [
            (
                head + offset + 1,
                event.id.bytes,
                stream_id,
                actual + offset + 1,
                event.type,
                event.schema_version,
                event.data,
                event.metadata,
                event.correlation_id,
                event.causation_id,
                micros,
            )
            for offset, event in enumerate(batch)
        ]
        try:
            conn.executemany(_INSERT, rows)
        except sqlite3.IntegrityError as exc:
            # Only an event id can collide: the version was checked under the write lock.
            conn.execute("ROLLBACK TO append")
            existing = self._existing(conn, stream_id, batch)
            if existing is not None:
                return existing, False
            raise _Rejected(StoreUnavailable(f"unexpected constraint failure: {exc}")) from exc
        count = len(batch)
        return AppendResult(stream_id, actual + count, head + count, head + 1), True

    def _existing(
        self, conn: sqlite3.Connection, stream_id: str, batch: list[EncodedEvent]
    ) -> AppendResult | None:
        stored: dict[uuid.UUID, StoredEvent] = {}
        by_bytes = {event.id.bytes: event.id for event in batch}
        ids = list(by_bytes)
        for start in range(0, len(ids), _MAX_PARAMS):
            chunk = ids[start : start + _MAX_PARAMS]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                "SELECT id, stream_id, version, position, type, schema_version, data, metadata, "
                f"correlation_id, causation_id FROM events WHERE id IN ({marks})",
                chunk,
            ):
                stored[by_bytes[row[0]]] = StoredEvent(*row[1:])
        try:
            return match_stored_batch(stream_id, batch, stored)
        except DuplicateEventId as exc:
            raise _Rejected(exc) from None


def _call_soon(
    loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: object
) -> None:
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        pass  # the loop is closed: nobody is waiting any more


def _by_loop(
    outcomes: list[tuple[AppendRequest, Outcome]],
) -> dict[asyncio.AbstractEventLoop, list[tuple[AppendRequest, Outcome]]]:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[AppendRequest, Outcome]]] = {}
    for request, outcome in outcomes:
        by_loop.setdefault(request.loop, []).append((request, outcome))
    return by_loop


def _deliver_soon(outcomes: list[tuple[AppendRequest, Outcome]]) -> None:
    for loop, items in _by_loop(outcomes).items():
        _call_soon(loop, _deliver, items)


def _deliver(items: list[tuple[AppendRequest, Outcome]]) -> None:
    for request, outcome in items:
        future = request.future
        if future.done():
            continue  # the caller was cancelled; the append's outcome stands
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
