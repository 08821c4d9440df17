"""Inline projections on a PostgreSQL store: the writer's hook.

``fs.connect("postgresql://...?schema=events", inline=[OrdersByCustomer()])`` keeps those
projections' read models in the store's own schema and has the store's writer apply each
append to them in the append's transaction (``PostgresWriter``'s ``on_commit_rows``), before
COMMIT, under the append lock. Handlers run on the writer's connection in the event loop, so
they may ``await tx.fetch(...)``; everything they wait for holds up every append of the schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..events import RecordedEvent
from ..store.encoding import RowDecoder
from ..store.postgres.statements import Statements
from .inline import InlineApplier
from .projection import Projection
from .readmodels.dialect import POSTGRES
from .readmodels.postgres import PostgresSession, PostgresTarget
from .readmodels.sql import Guard, Op, SqlSession, SqlTarget

__all__ = ["PostgresInlineProjections"]


class _WriterSession(PostgresSession):
    """The store writer's connection inside its append transaction: statements run at once;
    begin, commit and rollback are the writer's business."""

    async def begin(self, guard: Guard | None = None) -> None:
        return None

    async def commit(self, ops: Sequence[Op], begin: Guard | None = None) -> None:
        await self._run(ops)

    async def rollback(self) -> None:
        return None

    async def migrate(self) -> None:
        return None

    def is_transient(self, error: BaseException) -> bool:
        return False  # the writer decides what a lost connection means

    async def close(self) -> None:
        return None


class PostgresInlineProjections(InlineApplier):
    """The hook a PostgreSQL store's writer calls with each append's events. Built by
    ``fs.connect(..., inline=[...])``; the read models are in the store's schema."""

    dialect = POSTGRES
    # Another process's runner may be catching the projection up: wait for its batch.
    lock_checkpoint = " FOR UPDATE OF c"

    def __init__(self, dsn: str, schema: str, projections: Sequence[Projection[Any]]) -> None:
        self._target = PostgresTarget(dsn, schema)
        self._read_range = Statements.for_schema(schema).read_range
        super().__init__(projections)

    def target(self) -> SqlTarget:
        return self._target

    async def _backlog(self, session: SqlSession, after: int, before: int) -> list[RecordedEvent]:
        make = RowDecoder().event
        rows = await session.query(self._read_range, (after + 1, before - 1))
        return [make(*row) for row in rows]

    async def __call__(self, conn: Any, events: list[RecordedEvent]) -> None:
        await self.apply(_WriterSession(conn), events)
