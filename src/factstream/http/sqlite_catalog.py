"""Stream listing and event lookup by id for SQLite stores. SQLite only, for now.

The event store port has no query to list streams or to find an event by id. Until it grows
``list_streams(after, limit)`` and ``position_of(event_id)`` primitives (one per backend), this
module answers both from a SQLite store's file, read-only, with the indexes the schema already
has: ``(stream_id, version)`` for keyset pagination over streams and the unique index on ids.
Other backends get no catalog and the HTTP app answers ``/streams`` with 501.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from ..store.base import EventStore
from .ports import StreamInfo

__all__ = ["SqliteStreamCatalog", "sqlite_path_of"]

T = TypeVar("T")
_PREFIX_END = "\U0010ffff"  # sorts after every character a stream id can continue with


def sqlite_path_of(store: object) -> str | None:
    """The file of a SQLite store, looking through decorators (``.inner``); else None."""
    seen = 0
    while store is not None and seen < 16:
        if type(store).__name__ == "SqliteEventStore":
            settings = getattr(store, "settings", None)
            path = getattr(settings, "path", None)
            return path if isinstance(path, str) else None
        store = getattr(store, "inner", None)
        seen += 1
    return None


class SqliteStreamCatalog:
    """Implements :class:`~factstream.http.ports.StreamCatalog` and
    :class:`~factstream.http.ports.EventLocator` on a SQLite store's file.

    One reader thread with its own read-only connection; every query is read to the end so no
    read transaction stays open (an open one would stop WAL checkpoints).
    """

    def __init__(self, path: str) -> None:
        self._uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="factstream-catalog")
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []

    @classmethod
    def for_store(cls, store: EventStore) -> SqliteStreamCatalog | None:
        """A catalog for ``store`` if it is (or wraps) a SQLite store, else None."""
        path = sqlite_path_of(store)
        return cls(path) if path is not None else None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            self._conns.append(conn)
        return conn

    async def _run(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        def work() -> list[tuple[Any, ...]]:
            return self._conn().execute(sql, params).fetchall()

        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def list_streams(
        self, after: str | None, limit: int, prefix: str | None = None
    ) -> list[StreamInfo]:
        conditions = ["stream_id > ?"]
        params: list[Any] = [after or ""]
        if prefix:
            conditions.append("stream_id >= ? AND stream_id < ?")
            params += [prefix, prefix + _PREFIX_END]
        params.append(limit)
        # GROUP BY walks the (stream_id, version) index in order and stops after `limit` groups.
        sql = (
            "SELECT stream_id, max(version) FROM events WHERE "
            + " AND ".join(conditions)
            + " GROUP BY stream_id ORDER BY stream_id LIMIT ?"
        )
        rows = await self._run(sql, tuple(params))
        return [StreamInfo(stream_id=row[0], version=row[1]) for row in rows]

    async def position_of(self, event_id: uuid.UUID) -> int | None:
        rows = await self._run("SELECT position FROM events WHERE id = ?", (event_id.bytes,))
        return int(rows[0][0]) if rows else None

    async def close(self) -> None:
        def close_all() -> None:
            for conn in self._conns:
                conn.close()
            self._conns.clear()

        await asyncio.get_running_loop().run_in_executor(self._executor, close_all)
        self._executor.shutdown(wait=False)
