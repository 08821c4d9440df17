"""SQLite read models: a file of their own, or the events' database."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ...store.sqlite.connection import enable_wal
from .dialect import SQLITE
from .migrations import MIGRATIONS_TABLE, migrations, statements
from .sql import Guard, Op, Row, SqlSession, SqlTarget

__all__ = ["SqliteTarget"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SqliteTarget(SqlTarget):
    """Read models in a SQLite file (created if missing, WAL mode).

    Attributes:
        path: the database file; it may be the event store's own file.
        synchronous: ``"NORMAL"`` by default: a power cut can lose the last batches, but the
            read model and its checkpoint are lost together, so they are re-applied from the
            log; nothing is ever applied twice. ``"FULL"`` fsyncs every batch.
        busy_timeout: seconds to wait for another writer of the same file.
    """

    path: str | os.PathLike[str]
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    busy_timeout: float = 30.0

    async def connect(self) -> SqliteSession:
        session = SqliteSession(self)
        try:
            await session._call(session._open)
        except BaseException:
            await session.close()
            raise
        return session

    def describe(self) -> str:
        return f"sqlite:///{os.fspath(self.path)}"


def _run_ops(conn: sqlite3.Connection, ops: Sequence[Op]) -> None:
    # Runs of the same statement go as one executemany.
    index, count = 0, len(ops)
    while index < count:
        sql = ops[index][0]
        end = index + 1
        while end < count and ops[end][0] == sql:
            end += 1
        if end - index == 1:
            conn.execute(sql, ops[index][1])
        else:
            conn.executemany(sql, [params for _, params in ops[index:end]])
        index = end


class SqliteSession(SqlSession):
    """A connection owned by one thread; every call runs there."""

    dialect = SQLITE

    def __init__(self, target: SqliteTarget) -> None:
        self._target = target
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="factstream-readmodel")
        self._conn: sqlite3.Connection | None = None

    async def _call(self, work: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work, *args)

    def _open(self) -> None:
        target = self._target
        conn = sqlite3.connect(
            os.fspath(target.path),
            timeout=target.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        enable_wal(conn, target.busy_timeout)
        conn.execute(f"PRAGMA synchronous={target.synchronous}")
        self._conn = conn

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.ProgrammingError("the read-model session is closed")
        return self._conn

    def _begin(self, guard: Guard | None) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        if guard is not None:
            sql, params, check = guard
            try:
                check(conn.execute(sql, params).fetchall())
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _fetch(self, ops: Sequence[Op], sql: str, params: Sequence[Any]) -> list[Row]:
        conn = self._connection()
        _run_ops(conn, ops)
        return conn.execute(sql, params).fetchall()

    def _commit(self, ops: Sequence[Op], begin: Guard | None) -> None:
        conn = self._connection()
        if begin is not None:
            self._begin(begin)
        try:
            _run_ops(conn, ops)
            conn.execute("COMMIT")
        except BaseException:
            if begin is not None and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _rollback(self) -> None:
        conn = self._connection()
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def _execute(self, sql: str, params: Sequence[Any]) -> int:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            count = conn.execute(sql, params).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return count

    def _migrate(self) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            applied = {row[0] for row in conn.execute(f"SELECT version FROM {MIGRATIONS_TABLE}")}
            for number, name, script in migrations("sqlite"):
                if number in applied:
                    continue
                for statement in statements(script):
                    conn.execute(statement)
                conn.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} VALUES (?, ?, datetime('now'))",
                    (number, name),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def begin(self, guard: Guard | None = None) -> None:
        await self._call(self._begin, guard)

    async def run(self, ops: Sequence[Op]) -> None:
        await self._call(_run_ops, self._connection(), ops)

    async def fetch(self, ops: Sequence[Op], sql: str, params: Sequence[Any]) -> list[Row]:
        return await self._call(self._fetch, ops, sql, params)

    async def commit(self, ops: Sequence[Op], begin: Guard | None = None) -> None:
        await self._call(self._commit, ops, begin)

    async def rollback(self) -> None:
        await self._call(self._rollback)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._call(self._execute, sql, params)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._call(self._fetch, (), sql, params)

    async def migrate(self) -> None:
        await self._call(self._migrate)

    def is_transient(self, error: BaseException) -> bool:
        if isinstance(error, sqlite3.OperationalError):
            message = str(error).lower()
            return "locked" in message or "busy" in message or "disk i/o" in message
        return False

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._call(conn.close)
        self._executor.shutdown(wait=True)
