"""A projection's read model in a SQL database (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...events import RecordedEvent
from .. import checkpoints, deadletters
from ..checkpoints import CheckpointKey
from ..deadletters import DeadLetter
from ..generations import Generation, activate, generations
from ..projection import Projection
from .base import BatchTransaction, ReadModel
from .sql import SqlSession, SqlTarget, SqlTransaction

__all__ = ["SqlReadModel", "open_sql_read_model"]


class _SqlBatch(BatchTransaction):
    def __init__(self, model: SqlReadModel) -> None:
        self._model = model
        self.handle: SqlTransaction = SqlTransaction(model.session, model.names)

    async def begin(self, expected: Mapping[int, int]) -> None:
        model = self._model
        checkpoints.guard(self.handle, model.key, expected, require_active=model.live)

    def park(self, event: RecordedEvent, error: str | None, attempts: int) -> None:
        model = self._model
        deadletters.park(self.handle, model.name, model.generation, event, error, attempts)

    def unpark(self, event: RecordedEvent) -> None:
        model = self._model
        deadletters.unpark(self.handle, model.name, model.generation, event.position)

    def advance(self, positions: Mapping[int, int]) -> None:
        checkpoints.advance(self.handle, self._model.key, positions)

    async def commit(self) -> list[Callable[[], Any]]:
        return await self.handle._commit()

    async def rollback(self) -> None:
        await self.handle._rollback()


class SqlReadModel(ReadModel):
    """One generation of a projection's tables, with its checkpoints and dead letters.

    Attributes:
        live: whether this is the generation queries see (batches then check it still is).
    """

    def __init__(self, session: SqlSession, generation: Generation, *, live: bool) -> None:
        self.session = session
        self.name = generation.name
        self.generation = generation.number
        self.info = generation
        self.names = generation.names(session)
        self.key = CheckpointKey(generation.name, generation.number)
        self.live = live

    async def load_checkpoints(self, partitions: list[int]) -> dict[int, int]:
        return await checkpoints.load_checkpoints(self.session, self.key, partitions)

    def transaction(self) -> _SqlBatch:
        return _SqlBatch(self)

    async def parked_streams(self) -> set[str]:
        return await deadletters.parked_streams(self.session, self.name, self.generation)

    async def retry_requests(self) -> list[str]:
        return await deadletters.retry_requests(self.session, self.name, self.generation)

    async def parked_in_stream(self, stream_id: str) -> list[DeadLetter]:
        return await deadletters.parked_in_stream(
            self.session, self.name, self.generation, stream_id
        )

    def is_transient(self, error: BaseException) -> bool:
        return self.session.is_transient(error)

    async def close(self) -> None:
        await self.session.close()


async def open_sql_read_model(
    target: SqlTarget, projection: Projection[Any], generation: int | None = None
) -> SqlReadModel:
    """Open ``projection``'s read model: the active generation (created on first use), or
    the given one (a shadow being rebuilt)."""
    session = await target.connect()
    try:
        await session.migrate()
        if generation is None:
            return SqlReadModel(session, await activate(session, projection), live=True)
        found = [g for g in await generations(session, projection.name) if g.number == generation]
        if not found:
            raise ValueError(f"projection {projection.name!r} has no generation {generation}")
        return SqlReadModel(session, found[0], live=False)
    except BaseException:
        await session.close()
        raise
