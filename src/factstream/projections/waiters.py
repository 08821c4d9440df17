"""Read your writes from any process: wait until a projection's stored checkpoints reach a
position, by polling them (``factstream_checkpoints``, or the Redis checkpoint hash)."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Self

from .readmodels.redis import RedisTarget
from .readmodels.sql import SqlSession, SqlTarget

__all__ = ["CheckpointWaiter"]


class CheckpointWaiter:
    """Waits for a projection's read model, wherever its runner runs.

    A :class:`ProjectionRunner` in the same process wakes waiters at once; this one polls
    the checkpoints the runners commit with the read model, so a web process can read its
    writes applied by a projection process. Positions of parked events count as passed (the
    checkpoint moves past them). Use it as an async context manager, or :meth:`close` it::

        async with fs.CheckpointWaiter(target, "orders_by_customer") as waiter:
            answer = await queries.ask_after(GetOrders("ada"), result, waiter, timeout=2)

    Args:
        target: the read model's database (SQL or Redis).
        projection: the projection's name.
        partitions: how many partitions it has (the smallest checkpoint over all of them
            counts; a partition without a checkpoint yet counts as 0).
        poll_interval: seconds between looks.
    """

    def __init__(
        self,
        target: SqlTarget | RedisTarget,
        projection: str,
        *,
        partitions: int = 1,
        poll_interval: float = 0.05,
    ) -> None:
        self._target = target
        self._name = projection
        self._partitions = partitions
        self._poll = poll_interval
        self._session: SqlSession | None = None
        self._redis: Any = None
        self._lock = asyncio.Lock()

    async def position(self) -> int:
        """The position the read model reflects now (the smallest partition checkpoint of
        the active generation; 0 before the first batch)."""
        async with self._lock:
            if isinstance(self._target, RedisTarget):
                if self._redis is None:
                    self._redis = await self._target.connect()
                values = await self._redis.hvals(self._target.key(self._name, "_fs:checkpoints"))
                found = [int(v) for v in values]
            else:
                if self._session is None:
                    self._session = await self._target.connect()
                    await self._session.migrate()
                session = self._session
                rows = await session.query(
                    session.dialect.convert(
                        "SELECT c.position FROM factstream_checkpoints c "
                        "JOIN factstream_projections p "
                        "ON p.name = c.name AND p.generation = c.generation "
                        "WHERE c.name = ? AND p.state = 'active' AND c.partition < ?"
                    ),
                    (self._name, self._partitions),
                )
                found = [int(row[0]) for row in rows]
        if len(found) < self._partitions:
            return 0
        return min(found)

    async def wait_for(self, position: int, timeout: float | None = None) -> bool:
        """Wait until the read model reflects ``position``.

        Returns:
            ``True`` once it does; ``False`` after ``timeout`` seconds if it does not yet.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while await self.position() < position:
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                await asyncio.sleep(min(self._poll, remaining))
            else:
                await asyncio.sleep(self._poll)
        return True

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
