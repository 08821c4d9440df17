"""Inline projections: read models updated in the same transaction as the append.

``fs.connect("sqlite:///events.db", inline=[OrdersByCustomer()])`` keeps those projections'
tables in the events' own file, written by the store's writer thread inside each append's
savepoint, before COMMIT: a query right after ``append`` returns sees the write (strong
consistency), and an append whose projection fails is rolled back and fails alone. The
PostgreSQL store's hook is :mod:`.inline_postgres`; both share :class:`InlineApplier`.

The handlers are the usual ones (``tx.execute``, ``tx.fetch``, ...). Each append also moves the
projection's checkpoint; when the checkpoint is behind the append (events written by a process
without the inline projection, or a rebuild swapped in a generation that stopped short of the
head), the missing events are read from the log and applied first, in the same transaction.
"""

from __future__ import annotations

import abc
import json
import logging
import sqlite3
from collections.abc import Coroutine, Sequence
from typing import Any

from ..events import RecordedEvent
from ..store.envelope import decode_envelope
from .projection import Projection
from .readmodels.dialect import SQLITE, Dialect
from .readmodels.sql import (
    Guard,
    Op,
    Row,
    SqlSession,
    SqlTarget,
    SqlTransaction,
    TableNames,
    physical_tables,
)
from .readmodels.sqlite import SqliteTarget, _run_ops
from .readmodels.sqlmodel import open_sql_read_model
from .runner import ProjectionRunner

__all__ = ["InlineApplier", "InlineProjections"]

_log = logging.getLogger("factstream.projections")

_ACTIVE = (
    "SELECT p.generation, p.tables, c.position FROM factstream_projections p "
    "JOIN factstream_checkpoints c ON c.name = p.name AND c.generation = p.generation "
    "AND c.partition = 0 WHERE p.name = ? AND p.state = 'active'"
)


class InlineApplier(abc.ABC):
    """Applies appended events to inline projections on the store writer's own connection
    (a :class:`SqlSession` whose transaction is the writer's), moving their checkpoints.

    Subclasses say where the read models are (:meth:`target`) and how to read the events a
    checkpoint is behind by (:meth:`_backlog`)."""

    dialect: Dialect
    lock_checkpoint = ""
    """Appended to the checkpoint query: PostgreSQL locks the row (another process's runner
    may be catching the projection up); SQLite's write lock already covers it."""

    def __init__(self, projections: Sequence[Projection[Any]]) -> None:
        names = [p.name for p in projections]
        if len(set(names)) != len(names):
            raise ValueError(f"inline projections need distinct names, got {names}")
        self.projections = list(projections)
        self._names: dict[tuple[str, int], TableNames] = {}
        dialect = self.dialect
        self._active_sql = dialect.convert(_ACTIVE + self.lock_checkpoint)
        self._move_sql = dialect.convert(
            f"UPDATE factstream_checkpoints SET position = ?, updated_at = {dialect.now} "
            "WHERE name = ? AND generation = ? AND partition = 0"
        )

    @abc.abstractmethod
    def target(self) -> SqlTarget:
        """The read models' database, as a target for runners and rebuilds."""

    @abc.abstractmethod
    async def _backlog(self, session: SqlSession, after: int, before: int) -> list[RecordedEvent]:
        """The stored events with ``after < position < before``, in order."""

    async def prepare(self) -> None:
        """Create (or check the version of) each projection's read model."""
        for projection in self.projections:
            model = await open_sql_read_model(self.target(), projection)
            await model.close()

    async def catch_up(self, store: Any) -> None:
        """Apply what the log holds beyond each projection's checkpoint (a projection made
        inline on an existing log), before the store is handed out."""
        for projection in self.projections:
            runner = ProjectionRunner(store, projection, self.target(), heartbeat_interval=None)
            await runner.catch_up()

    async def apply(self, session: SqlSession, events: list[RecordedEvent]) -> None:
        """Apply one append's ``events`` to every inline projection."""
        for projection in self.projections:
            await self._apply(session, projection, events)

    async def _apply(
        self, session: SqlSession, projection: Projection[Any], events: list[RecordedEvent]
    ) -> None:
        name = projection.name
        active = await session.query(self._active_sql, (name,))
        if not active:
            _log.warning("inline projection %s has no read model (reset?); not applied", name)
            return
        generation, tables, checkpoint = int(active[0][0]), active[0][1], int(active[0][2])
        first, last = events[0].position, events[-1].position
        if checkpoint >= last:
            return
        backlog: list[RecordedEvent] = []
        if checkpoint < first - 1:
            backlog = await self._backlog(session, checkpoint, first)
        todo = [e for e in (*backlog, *events) if e.position > checkpoint]
        names = self._names.get((name, generation))
        if names is None:
            physical = physical_tables(json.loads(tables), generation)
            names = self._names[(name, generation)] = TableNames(self.dialect, physical)
        tx = SqlTransaction(session, names)
        selected = [e for e in todo if projection.handles_event(e)]
        if selected:
            await projection.apply(selected, tx)
        await tx._commit()
        await session.execute(self._move_sql, (last, name, generation))


class _WriterSession(SqlSession):
    """The SQLite writer's connection, inside an append's savepoint: statements run at once,
    and the transaction is the writer's (begin, commit and rollback are its business)."""

    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def begin(self, guard: Guard | None = None) -> None:
        return None

    async def run(self, ops: Sequence[Op]) -> None:
        _run_ops(self._conn, ops)

    async def fetch(self, ops: Sequence[Op], sql: str, params: Sequence[Any]) -> list[Row]:
        _run_ops(self._conn, ops)
        return self._conn.execute(sql, params).fetchall()

    async def commit(self, ops: Sequence[Op], begin: Guard | None = None) -> None:
        _run_ops(self._conn, ops)

    async def rollback(self) -> None:
        return None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._conn.execute(sql, params).rowcount)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    async def migrate(self) -> None:
        return None

    def is_transient(self, error: BaseException) -> bool:
        return False

    async def close(self) -> None:
        return None


_CANNOT_WAIT = (
    "an inline projection's handler waited on something other than its transaction; "
    "inline handlers run in the store's writer thread and cannot wait"
)


def _run_sync(coroutine: Coroutine[Any, Any, Any]) -> Any:
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    except RuntimeError as exc:  # asyncio primitives need a loop; the writer thread has none
        if "running event loop" in str(exc):
            raise TypeError(_CANNOT_WAIT) from exc
        raise
    coroutine.close()
    raise TypeError(_CANNOT_WAIT)


class InlineProjections(InlineApplier):
    """The hook a SQLite store's writer calls with each append's events
    (``SqliteSettings.on_commit_rows``). Built by ``fs.connect(..., inline=[...])``."""

    dialect = SQLITE

    def __init__(self, path: str, projections: Sequence[Projection[Any]]) -> None:
        super().__init__(projections)
        self.path = path

    def target(self) -> SqlTarget:
        return SqliteTarget(self.path)

    async def _backlog(self, session: SqlSession, after: int, before: int) -> list[RecordedEvent]:
        rows = await session.query(
            "SELECT body FROM events WHERE position > ? AND position < ? ORDER BY position",
            (after, before),
        )
        return [decode_envelope(row[0]) for row in rows]

    def __call__(self, conn: sqlite3.Connection, events: list[RecordedEvent]) -> None:
        _run_sync(self.apply(_WriterSession(conn), events))
