"""PostgreSQL read models (asyncpg), in a schema of their own."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .dialect import POSTGRES
from .migrations import MIGRATIONS_TABLE, migrations, statements
from .sql import Guard, Op, Row, SqlSession, SqlTarget

__all__ = ["PostgresTarget"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_MIGRATION_LOCK = 0x66_73_72_65_61_64  # pg_advisory_xact_lock key while migrating ("fsread")


@dataclass(frozen=True, slots=True)
class PostgresTarget(SqlTarget):
    """Read models in a PostgreSQL schema (created if missing). Needs the ``postgres`` extra.

    Attributes:
        dsn: ``postgresql://user:password@host:port/database``.
        schema: the schema holding the read models and factstream's read-side tables; it is
            the connection's ``search_path``, so handlers and queries use plain table names.
        connect_timeout: seconds to wait for a connection.
    """

    dsn: str
    schema: str = "public"
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not _IDENTIFIER.match(self.schema):
            raise ValueError(f"schema must be a plain SQL identifier, got {self.schema!r}")

    async def connect(self) -> PostgresSession:
        import asyncpg

        conn = await asyncpg.connect(self.dsn, timeout=self.connect_timeout)
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await conn.execute(f'SET search_path TO "{self.schema}"')
        except BaseException:
            await conn.close()
            raise
        return PostgresSession(conn)

    def describe(self) -> str:
        parts = urlsplit(self.dsn)
        host = parts.hostname or ""
        netloc = f"{parts.username}@{host}" if parts.username else host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", "")) + f" schema {self.schema}"


def _count(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class PostgresSession(SqlSession):
    """One asyncpg connection."""

    dialect = POSTGRES

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._transaction: Any = None

    async def _run(self, ops: Sequence[Op]) -> None:
        conn = self._conn
        index, count = 0, len(ops)
        while index < count:
            sql = ops[index][0]
            end = index + 1
            while end < count and ops[end][0] == sql:
                end += 1
            if end - index == 1:
                await conn.execute(sql, *ops[index][1])
            else:
                await conn.executemany(sql, [params for _, params in ops[index:end]])
            index = end

    async def begin(self, guard: Guard | None = None) -> None:
        self._transaction = self._conn.transaction()
        await self._transaction.start()
        if guard is not None:
            sql, params, check = guard
            try:
                check([tuple(r) for r in await self._conn.fetch(sql, *params)])
            except BaseException:
                await self.rollback()
                raise

    async def run(self, ops: Sequence[Op]) -> None:
        await self._run(ops)

    async def fetch(self, ops: Sequence[Op], sql: str, params: Sequence[Any]) -> list[Row]:
        await self._run(ops)
        return [tuple(record) for record in await self._conn.fetch(sql, *params)]

    async def commit(self, ops: Sequence[Op], begin: Guard | None = None) -> None:
        if begin is not None:
            await self.begin(begin)
        await self._run(ops)
        transaction, self._transaction = self._transaction, None
        await transaction.commit()

    async def rollback(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None and not self._conn.is_closed():
            await transaction.rollback()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return _count(await self._conn.execute(sql, *params))

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [tuple(record) for record in await self._conn.fetch(sql, *params)]

    async def migrate(self) -> None:
        async with self._conn.transaction():
            await self._conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            rows = await self._conn.fetch(f"SELECT version FROM {MIGRATIONS_TABLE}")
            applied = {row[0] for row in rows}
            for number, name, script in migrations("postgres"):
                if number in applied:
                    continue
                for statement in statements(script):
                    await self._conn.execute(statement)
                await self._conn.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (version, name) VALUES ($1, $2)",
                    number,
                    name,
                )

    def is_transient(self, error: BaseException) -> bool:
        import asyncpg

        transient = (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.exceptions.SerializationError,
            asyncpg.exceptions.DeadlockDetectedError,
            asyncpg.exceptions.OperatorInterventionError,
            asyncpg.exceptions.TooManyConnectionsError,
            ConnectionError,
            OSError,
            TimeoutError,
        )
        return isinstance(error, transient)

    async def close(self) -> None:
        if not self._conn.is_closed():
            await self._conn.close()
