"""Streaming state in the store's SQLite file, on a connection of its own."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from ...store.sqlite.connection import enable_wal
from .base import Beat, StoredBeat, StreamMark, beat_from_row, beat_values
from .migrations import migrations, statements

__all__ = ["SqliteStreamingState"]

T = TypeVar("T")

_UPSERT_LEASE = """
INSERT INTO factstream_streaming_leases (name, owner, expires_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE factstream_streaming_leases.owner = excluded.owner
   OR factstream_streaming_leases.expires_at < ?
RETURNING owner
"""
_SAVE_MARK = """
INSERT INTO factstream_streaming_marks (consumer, stream_id, version, parked) VALUES (?, ?, ?, ?)
ON CONFLICT (consumer, stream_id) DO UPDATE
SET version = max(version, excluded.version), parked = excluded.parked
"""
_SAVE_BEAT = """
INSERT INTO factstream_streaming_heartbeats (component, name, member, host, pid, state, active,
    position, lag, beat_every, error, heartbeat_at, progress_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (component, name, member) DO UPDATE SET host = excluded.host, pid = excluded.pid,
    state = excluded.state, active = excluded.active, position = excluded.position,
    lag = excluded.lag, beat_every = excluded.beat_every, error = excluded.error,
    heartbeat_at = excluded.heartbeat_at, progress_at = excluded.progress_at
"""
_BEAT_COLUMNS = (
    "component, name, member, host, pid, state, active, position, lag, beat_every, error, "
    "heartbeat_at, progress_at"
)
_CHUNK = 500  # SQLite's default limit of host parameters is far above this


class SqliteStreamingState:
    """Checkpoints, leases and marks in tables of the store's SQLite file.

    Open with :meth:`open` on the store's path; it uses its own connection (WAL mode, so it
    never blocks the store's readers) and serialises its calls on one thread at a time.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], busy_timeout: float = 30.0
    ) -> SqliteStreamingState:
        conn = await asyncio.to_thread(_connect, os.fspath(path), busy_timeout)
        return cls(conn)

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        def locked() -> T:
            with self._lock:
                return work(*args)

        return await asyncio.to_thread(locked)

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            changed = conn.executemany(sql, rows).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return changed

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    # -- checkpoints ----------------------------------------------------------------------

    async def load_checkpoint(self, name: str) -> int:
        rows = await self._run(
            self._query,
            "SELECT position FROM factstream_streaming_checkpoints WHERE name = ?",
            (name,),
        )
        return int(rows[0][0]) if rows else 0

    async def save_checkpoint(self, name: str, position: int) -> None:
        await self._run(
            self._write,
            "INSERT INTO factstream_streaming_checkpoints (name, position, updated_at) "
            "VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
            "SET position = excluded.position, updated_at = excluded.updated_at",
            [(name, position, time.time())],
        )

    # -- leases ---------------------------------------------------------------------------

    def _acquire(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(_UPSERT_LEASE, (name, owner, now + ttl, now)).fetchall()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return bool(rows)

    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        return await self._run(self._acquire, name, owner, ttl)

    async def release_lease(self, name: str, owner: str) -> None:
        await self._run(
            self._write,
            "DELETE FROM factstream_streaming_leases WHERE name = ? AND owner = ?",
            [(name, owner)],
        )

    async def lease_holders(self, prefix: str) -> dict[str, str]:
        rows = await self._run(
            self._query,
            "SELECT name, owner FROM factstream_streaming_leases "
            "WHERE substr(name, 1, ?) = ? AND expires_at > ?",
            (len(prefix), prefix, time.time()),
        )
        return {str(name): str(owner) for name, owner in rows}

    # -- marks ----------------------------------------------------------------------------

    def _load(self, consumer: str, stream_ids: list[str]) -> dict[str, StreamMark]:
        found: dict[str, StreamMark] = {}
        for start in range(0, len(stream_ids), _CHUNK):
            chunk = stream_ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT stream_id, version, parked FROM factstream_streaming_marks "
                f"WHERE consumer = ? AND stream_id IN ({marks})",
                (consumer, *chunk),
            ).fetchall()
            for stream_id, version, parked in rows:
                found[stream_id] = StreamMark(int(version), None if parked is None else int(parked))
        return found

    async def load_marks(self, consumer: str, stream_ids: Collection[str]) -> dict[str, StreamMark]:
        if not stream_ids:
            return {}
        return await self._run(self._load, consumer, list(stream_ids))

    async def save_marks(self, consumer: str, marks: Mapping[str, StreamMark]) -> None:
        if marks:
            rows = [(consumer, s, m.version, m.parked) for s, m in marks.items()]
            await self._run(self._write, _SAVE_MARK, rows)

    async def parked_streams(self, consumer: str) -> dict[str, StreamMark]:
        rows = await self._run(
            self._query,
            "SELECT stream_id, version, parked FROM factstream_streaming_marks "
            "WHERE consumer = ? AND parked IS NOT NULL",
            (consumer,),
        )
        return {str(s): StreamMark(int(v), int(p)) for s, v, p in rows}

    # -- heartbeats -----------------------------------------------------------------------

    async def save_heartbeat(self, beat: Beat, progress_age: float) -> None:
        now = time.time()
        await self._run(self._write, _SAVE_BEAT, [(*beat_values(beat), now, now - progress_age)])

    async def load_heartbeats(self) -> list[StoredBeat]:
        rows = await self._run(
            self._query,
            f"SELECT {_BEAT_COLUMNS} FROM factstream_streaming_heartbeats "
            "ORDER BY component, name, member",
            (),
        )
        now = time.time()
        return [StoredBeat(beat_from_row(r), now - float(r[11]), now - float(r[12])) for r in rows]

    async def forget_heartbeats(self, older_than: float) -> int:
        return await self._run(
            self._write,
            "DELETE FROM factstream_streaming_heartbeats WHERE heartbeat_at < ?",
            [(time.time() - older_than,)],
        )

    async def close(self) -> None:
        await self._run(self._conn.close)


def _connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    enable_wal(conn, busy_timeout)
    # A lost checkpoint or mark after a power cut costs a re-publish or a skipped duplicate,
    # never an event: NORMAL is enough here.
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        _migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS factstream_streaming_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        applied = {
            r[0] for r in conn.execute("SELECT version FROM factstream_streaming_migrations")
        }
        for number, name, script in migrations("sqlite"):
            if number in applied:
                continue
            for statement in statements(script):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO factstream_streaming_migrations VALUES (?, ?, datetime('now'))",
                (number, name),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
