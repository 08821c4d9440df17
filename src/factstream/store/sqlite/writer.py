"""The single writer thread: group commit.

Appends from every task of the process queue here. The thread takes as many as are waiting and
commits them in one transaction, so one fsync serves the whole group. Under the write lock it
reads the current version of every stream in the group with one statement, decides each append
in queue order (appends to the same stream chain), and inserts all accepted rows with a few
multi-row ``INSERT`` statements. A rejected append never touched the database, so it fails
alone. Only when the unique index on event ids fires (a re-sent batch racing its original
inside one group) does the group fall back to one savepoint per append, which gives the same
outcomes one append at a time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable
from itertools import chain
from typing import NamedTuple

import msgspec

from ...events import (
    AppendResult,
    DuplicateEventId,
    ExpectedVersion,
    StoreUnavailable,
    WrongExpectedVersion,
)
from ...events.versions import satisfied
from ..encoding import EncodedEvent
from ..envelope import decode_envelope, encode_envelope_buffers, encode_timestamp, stored_event
from ..idempotency import StoredEvent, match_stored_batch
from ..settle import settle
from .connection import SqliteSettings, open_connection

__all__ = ["AppendRequest", "SqliteWriter"]

_INSERT_INTO = (
    "INSERT INTO events (position, id, stream_id, version, type, body, correlation_id, "
    "causation_id) VALUES "
)
# Rows go in as multi-row INSERTs of 64, 16, 4 and 1 rows: one statement step for many rows
# costs ~0.85 µs a row less than executemany, which steps a one-row statement per row
# (docs/benchmarks.md). At most 512 parameters a statement, under any SQLite's limit (999
# before 3.32); four statement shapes keep the connection's statement cache small.
_CHUNKS = (64, 16, 4, 1)
_INSERTS = {size: _INSERT_INTO + ",".join(["(?,?,?,?,?,?,?,?)"] * size) for size in _CHUNKS}
# Rows of events without correlation and causation ids leave those columns out (NULL).
_NARROW = 6
_NARROW_INSERT_INTO = "INSERT INTO events (position, id, stream_id, version, type, body) VALUES "
_NARROW_INSERTS = {
    size: _NARROW_INSERT_INTO + ",".join(["(?,?,?,?,?,?)"] * size) for size in _CHUNKS
}
_HEAD = "SELECT max(position) FROM events"
_STREAM_VERSION = "SELECT version FROM events WHERE stream_id = ? ORDER BY version DESC LIMIT 1"
_MAX_PARAMS = 500
# After this many direct commits, or this many bytes of events committed directly (data plus
# ~200 bytes of envelope and index entries each), the thread checkpoints the WAL: about the
# 1,000 pages of SQLite's own automatic checkpoint (a one-event commit writes ~3 pages; a
# 188-byte event takes ~1/10 of a page). Checkpointing more often costs a database fsync
# per checkpoint, and the append that arrives meanwhile waits in the thread.
_CHECKPOINT_COMMITS = 300
_CHECKPOINT_BYTES = 3 * 1024 * 1024
_EVENT_OVERHEAD = 200

Outcome = AppendResult | BaseException
_Row = (
    tuple[int, bytearray, str, int, str, bytearray, str | None, str | None]
    | tuple[int, bytearray, str, int, str, bytearray]
)


class AppendRequest(NamedTuple):
    stream_id: str
    batch: list[EncodedEvent]
    expected: ExpectedVersion
    future: asyncio.Future[AppendResult]
    loop: asyncio.AbstractEventLoop


class _Checkpoint:
    """Queued for the thread: checkpoint the WAL (after commits made on the direct connection)."""


_CHECKPOINT = _Checkpoint()


class _OneByOne(Exception):
    """The group cannot be decided in one pass; redo it with a savepoint per append."""


class SqliteWriter:
    """Owns the write connection and the thread that uses it."""

    def __init__(self, settings: SqliteSettings, on_commit: Callable[[int], None]) -> None:
        self._settings = settings
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[AppendRequest | _Checkpoint | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="factstream-sqlite-writer", daemon=True
        )
        self._started = threading.Event()
        # Held by whoever commits: the thread, or a caller committing directly (try_direct).
        self._lock = threading.Lock()
        self._direct: sqlite3.Connection | None = None
        self._direct_known = _Known()
        self._direct_commits = self._direct_bytes = 0
        self._startup_error: BaseException | None = None
        # Plain counts for observers (read without a lock: ints are replaced atomically).
        self.transactions = 0
        self.appends = 0

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

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
        with self._lock:
            if self._direct is not None:
                self._direct.close()
                self._direct = None

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            conn = open_connection(self._settings)
        except BaseException as exc:  # reported by start()
            self._startup_error = exc
            self._started.set()
            return
        self._started.set()
        try:
            self._serve(conn)
        finally:
            conn.close()
            # Anything still queued (only after an unexpected error) must not hang its caller.
            error = StoreUnavailable("the SQLite writer stopped")
            while True:
                try:
                    left = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(left, AppendRequest):
                    _deliver_soon([(left, error)])

    def _serve(self, conn: sqlite3.Connection) -> None:
        limit = self._settings.max_group_requests
        known = _Known()
        while True:
            first = self._queue.get()
            if first is None:
                return
            if isinstance(first, _Checkpoint):
                # Under the lock: a checkpoint only completes (and lets the next commit start
                # the WAL over) if no commit lands while it copies.
                with self._lock:
                    _checkpoint(conn)
                continue
            group = [first]
            stopping = checkpoint = False
            while len(group) < limit:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                if isinstance(more, _Checkpoint):
                    checkpoint = True
                    continue
                group.append(more)
            with self._lock:
                outcomes, head = self._transact(conn, known, group)
            for loop, items in _by_loop(outcomes).items():
                _call_soon(loop, self._finish, items, head)
            if checkpoint:
                with self._lock:
                    _checkpoint(conn)
            if stopping:
                return

    # -- committing on the caller's thread --------------------------------------------------

    def try_direct(self, request: AppendRequest) -> bool:
        """Commit a lone append on the calling (event loop) thread, if the writer is idle.

        Saves the two thread hand-offs of a queued append, which cost more than the commit
        itself for a sequential caller. Declines (returns False, nothing done) when the writer
        thread is busy or has work queued, or when another process holds the write lock: the
        direct connection never waits for a lock, so the caller's thread only ever waits for
        its own commit. The outcome is delivered before this returns.
        """
        if not self._queue.empty() or not self._lock.acquire(blocking=False):
            return False
        try:
            conn = self._direct
            try:
                if conn is None:
                    conn = open_connection(self._settings, busy_timeout=0.0)
                    conn.execute("PRAGMA wal_autocheckpoint=0")
                    self._direct = conn
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error:
                return False  # locked by another process (or worse): the writer thread decides
            outcomes, head = self._transact(conn, self._direct_known, [request], begun=True)
        finally:
            self._lock.release()
        self._finish(outcomes, head)
        # The direct connection never checkpoints the WAL (that would copy pages and fsync
        # the database file on the loop's thread): every so often the thread does it.
        batch = request.batch
        self._direct_commits += 1
        self._direct_bytes += sum(len(event.data) for event in batch) + _EVENT_OVERHEAD * len(batch)
        if self._direct_commits >= _CHECKPOINT_COMMITS or self._direct_bytes >= _CHECKPOINT_BYTES:
            self._direct_commits = self._direct_bytes = 0
            self._queue.put(_CHECKPOINT)
        return True

    def _transact(
        self,
        conn: sqlite3.Connection,
        known: _Known,
        group: list[AppendRequest],
        *,
        begun: bool = False,
    ) -> tuple[list[tuple[AppendRequest, Outcome]], int | None]:
        """Decide and commit a group: every append's outcome, and the new head (None when
        the transaction failed and every append failed with it)."""
        if not begun:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                error = StoreUnavailable(f"could not start a write transaction on SQLite: {exc}")
                return _failed(group, error, exc), None
        decided: dict[str, int] | None = None
        try:
            if self._settings.on_commit_rows is not None:
                # Inline projections: each append in its own savepoint, around the hook.
                outcomes, head = self._apply_one_by_one(conn, group)
            else:
                try:
                    outcomes, head, decided = self._apply_group(conn, known, group)
                except _OneByOne:
                    conn.execute("ROLLBACK")
                    conn.execute("BEGIN IMMEDIATE")
                    outcomes, head = self._apply_one_by_one(conn, group)
            conn.execute("COMMIT")
            known.committed(head, decided)
            self.transactions += 1
            self.appends += len(group)
        except BaseException as exc:
            known.forget()
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            if not isinstance(exc, Exception):
                _deliver_soon(_failed(group, StoreUnavailable("the SQLite writer stopped"), exc))
                raise
            error = StoreUnavailable(f"SQLite write transaction failed: {exc}")
            return _failed(group, error, exc), None
        return outcomes, head

    def _finish(self, items: list[tuple[AppendRequest, Outcome]], head: int | None) -> None:
        if head is not None:
            self._on_commit(head)
        _deliver(items)

    # -- deciding appends -----------------------------------------------------------------

    def _apply_group(
        self, conn: sqlite3.Connection, known: _Known, group: list[AppendRequest]
    ) -> tuple[list[tuple[AppendRequest, Outcome]], int, dict[str, int]]:
        head, versions = known.recall(conn, {request.stream_id for request in group})
        now = encode_timestamp(dt.datetime.now(dt.UTC))
        pending: set[uuid.UUID] = set()
        rows: list[_Row] = []
        outcomes: list[tuple[AppendRequest, Outcome]] = []
        for request in group:
            stream_id, batch = request.stream_id, request.batch
            actual = versions.get(stream_id, 0)
            if not satisfied(request.expected, actual):
                if any(event.id in pending for event in batch):
                    raise _OneByOne  # a retry of an append earlier in this very group
                outcomes.append((request, _refusal(conn, request, actual)))
                continue
            rows.extend(_rows(stream_id, batch, actual, head, now))
            pending.update(event.id for event in batch)
            count = len(batch)
            versions[stream_id] = actual + count
            outcomes.append(
                (request, AppendResult(stream_id, actual + count, head + count, head + 1))
            )
            head += count
        try:
            _insert(conn, rows)
        except sqlite3.IntegrityError as exc:  # an event id that is already stored
            raise _OneByOne from exc
        return outcomes, head, versions

    def _apply_one_by_one(
        self, conn: sqlite3.Connection, group: list[AppendRequest]
    ) -> tuple[list[tuple[AppendRequest, Outcome]], int]:
        head = _head(conn)
        now = encode_timestamp(dt.datetime.now(dt.UTC))
        hook = self._settings.on_commit_rows
        outcomes: list[tuple[AppendRequest, Outcome]] = []
        for request in group:
            stream_id, batch = request.stream_id, request.batch
            found = conn.execute(_STREAM_VERSION, (stream_id,)).fetchall()
            actual = found[0][0] if found else 0
            if not satisfied(request.expected, actual):
                outcomes.append((request, _refusal(conn, request, actual)))
                continue
            conn.execute("SAVEPOINT append")
            rows = _rows(stream_id, batch, actual, head, now)
            try:
                _insert(conn, rows)
            except sqlite3.IntegrityError:
                conn.execute("ROLLBACK TO append")
                conn.execute("RELEASE append")
                existing = _existing(conn, stream_id, batch)
                outcome: Outcome = existing or StoreUnavailable(
                    f"stream {stream_id!r}: unexplained constraint failure"  # ids only collide
                )
                outcomes.append((request, outcome))
                continue
            if hook is not None:
                try:
                    hook(conn, [decode_envelope(row[5]) for row in rows])
                except Exception as exc:  # an inline projection failed: this append alone fails
                    conn.execute("ROLLBACK TO append")
                    conn.execute("RELEASE append")
                    outcomes.append((request, exc))
                    continue
            conn.execute("RELEASE append")
            count = len(batch)
            outcomes.append(
                (request, AppendResult(stream_id, actual + count, head + count, head + 1))
            )
            head += count
        return outcomes, head


def _rows(
    stream_id: str, batch: list[EncodedEvent], actual: int, head: int, now: msgspec.Raw
) -> list[_Row]:
    """The batch's rows, their blobs as ``bytearray`` (which ``sqlite3`` binds without its
    adapter lookup). Without correlation and causation ids anywhere in the batch the rows
    leave those two columns out: binding ``None`` costs as much as the lookup."""
    bodies = encode_envelope_buffers(batch, stream_id, actual + 1, head + 1, now)
    if any(event.correlation_id or event.causation_id for event in batch):
        return [
            (
                head + offset,
                bytearray(event.id.bytes),
                stream_id,
                actual + offset,
                event.type,
                body,
                event.correlation_id,
                event.causation_id,
            )
            for offset, (event, body) in enumerate(zip(batch, bodies, strict=True), 1)
        ]
    return [
        (head + offset, bytearray(event.id.bytes), stream_id, actual + offset, event.type, body)
        for offset, (event, body) in enumerate(zip(batch, bodies, strict=True), 1)
    ]


def _insert(conn: sqlite3.Connection, rows: list[_Row]) -> None:
    """Insert rows of either width (with or without the id columns) in multi-row chunks."""
    wide = [row for row in rows if len(row) != _NARROW]
    if not wide:
        _insert_chunks(conn, rows, _NARROW_INSERTS)
    elif len(wide) == len(rows):
        _insert_chunks(conn, rows, _INSERTS)
    else:
        _insert_chunks(conn, [row for row in rows if len(row) == _NARROW], _NARROW_INSERTS)
        _insert_chunks(conn, wide, _INSERTS)


def _insert_chunks(conn: sqlite3.Connection, rows: list[_Row], statements: dict[int, str]) -> None:
    done, total = 0, len(rows)
    for size in _CHUNKS:
        sql = statements[size]
        while total - done >= size:
            conn.execute(sql, tuple(chain.from_iterable(rows[done : done + size])))
            done += size


class _Known:
    """What a connection knows of the log from its own commits: the head and the versions of
    the streams it wrote, valid while no other connection commits.

    ``PRAGMA data_version`` changes when, and only when, another connection (of this process
    or another) has committed; under the write lock nobody else can commit, so an unchanged
    value means the remembered head and versions are current. That saves the head and version
    lookups of a sequential writer's transactions.
    """

    __slots__ = ("data_version", "head", "versions")
    limit = 10_000

    def __init__(self) -> None:
        self.data_version: int | None = None
        self.head = 0
        self.versions: dict[str, int] = {}

    def recall(self, conn: sqlite3.Connection, stream_ids: set[str]) -> tuple[int, dict[str, int]]:
        """The head and the current version of each stream (absent: no such stream)."""
        data_version = int(conn.execute("PRAGMA data_version").fetchall()[0][0])
        if data_version != self.data_version:
            self.data_version = data_version
            self.versions.clear()
            return _head(conn), _stream_versions(conn, stream_ids)
        remembered = self.versions
        versions = {sid: remembered[sid] for sid in stream_ids if sid in remembered}
        if len(versions) < len(stream_ids):
            versions.update(_stream_versions(conn, stream_ids - versions.keys()))
        return self.head, versions

    def committed(self, head: int, versions: dict[str, int] | None) -> None:
        if versions is None:  # decided one by one: the lookups were not kept
            self.forget()
            return
        if len(self.versions) + len(versions) > self.limit:
            self.versions.clear()
        self.versions.update(versions)
        self.head = head

    def forget(self) -> None:
        self.data_version = None
        self.versions.clear()


def _checkpoint(conn: sqlite3.Connection) -> None:
    # PASSIVE: copies what it can without waiting for readers or writers.
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error:
        pass  # the next one (or SQLite's automatic one on this connection) will do it


def _head(conn: sqlite3.Connection) -> int:
    return int(conn.execute(_HEAD).fetchall()[0][0] or 0)


def _stream_versions(conn: sqlite3.Connection, stream_ids: set[str]) -> dict[str, int]:
    # One index seek per stream (max over a prefix of the (stream_id, version) index).
    found: dict[str, int] = {}
    ids = list(stream_ids)
    for start in range(0, len(ids), _MAX_PARAMS):
        chunk = ids[start : start + _MAX_PARAMS]
        values = ",".join(["(?)"] * len(chunk))
        sql = (
            "SELECT s.column1, (SELECT version FROM events WHERE stream_id = s.column1 "
            f"ORDER BY version DESC LIMIT 1) FROM (VALUES {values}) AS s"
        )
        for stream_id, version in conn.execute(sql, chunk).fetchall():
            if version is not None:
                found[stream_id] = version
    return found


def _refusal(conn: sqlite3.Connection, request: AppendRequest, actual: int) -> Outcome:
    """The outcome of an append whose expected version does not hold: a retry, or an error."""
    existing = _existing(conn, request.stream_id, request.batch)
    if existing is None:
        return WrongExpectedVersion(request.stream_id, request.expected, actual)
    return existing


def _existing(
    conn: sqlite3.Connection, stream_id: str, batch: list[EncodedEvent]
) -> AppendResult | DuplicateEventId | None:
    """Look the batch's ids up: the original result of a retry, why the ids clash, or None
    when none of them is stored."""
    stored: dict[uuid.UUID, StoredEvent] = {}
    by_bytes = {event.id.bytes: event.id for event in batch}
    ids = list(by_bytes)
    for start in range(0, len(ids), _MAX_PARAMS):
        chunk = ids[start : start + _MAX_PARAMS]
        marks = ",".join(["?"] * len(chunk))
        sql = f"SELECT id, body FROM events WHERE id IN ({marks})"
        for raw_id, body in conn.execute(sql, chunk).fetchall():
            stored[by_bytes[raw_id]] = stored_event(body)
    try:
        return match_stored_batch(stream_id, batch, stored)
    except DuplicateEventId as exc:
        return exc


def _failed(
    group: list[AppendRequest], error: StoreUnavailable, cause: BaseException
) -> list[tuple[AppendRequest, Outcome]]:
    error.__cause__ = cause
    return [(request, error) for request in group]


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
        settle(request.future, outcome)
