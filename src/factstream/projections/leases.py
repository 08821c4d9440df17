"""Partitioned workers: N processes (on any hosts) share a projection's partitions through
leases stored with the read model.

Each stream belongs to one partition (``partition_of(stream_id, partitions)``) and each
partition to at most one worker at a time: the holder of its lease in ``factstream_leases``.
Every ``renew_interval`` a worker renews its leases (``expires_at`` = the database's clock +
``lease_timeout``), counts the live workers of the projection (their heartbeats in
``factstream_runners``), gives up the partitions above its fair share and claims free or
expired ones up to it. A worker that dies stops renewing; after ``lease_timeout`` its
partitions are claimed by the others. All times are the database's clock, so the hosts'
clocks do not matter.

Leases decide who *should* apply a partition; the checkpoints decide who *may*: every batch
locks and checks its partitions' checkpoints, so even two workers that both believe they hold
a partition (one paused past its lease) never both apply a batch. Per-stream order holds
because a stream's events are in one partition, applied in log order by its one holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from ..store import EventStore
from .projection import Projection
from .readmodels.sql import SqlSession, SqlTarget
from .runner import ProjectionRunner

__all__ = ["PartitionedWorker"]

_log = logging.getLogger("factstream.projections")


class PartitionedWorker:
    """Runs a projection on the partitions this process holds leases for, and rebalances.

    ::

        async with fs.PartitionedWorker(store, OrdersByCustomer(), target, partitions=8):
            await stop.wait()

    Args:
        store: the event store.
        projection: the projection (every worker of it must use the same ``partitions``).
        target: the SQL read model's database (the leases live there).
        partitions: how many partitions the projection's streams are hashed into.
        lease_timeout: seconds after which a lease not renewed can be claimed by another
            worker (how fast a dead worker's partitions move).
        renew_interval: seconds between renewals (default: a third of the timeout).
        worker_id: this worker's id (a new UUID by default).
        on_change: called with the partitions held whenever they change.
        runner_options: passed on to the :class:`ProjectionRunner` (``batch_size``, ``retry``).
    """

    def __init__(
        self,
        store: EventStore,
        projection: Projection[Any],
        target: SqlTarget,
        *,
        partitions: int,
        lease_timeout: float = 15.0,
        renew_interval: float | None = None,
        worker_id: str | None = None,
        on_change: Callable[[frozenset[int]], None] | None = None,
        **runner_options: Any,
    ) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        if lease_timeout <= 0:
            raise ValueError("lease_timeout must be > 0")
        self.worker_id = worker_id or str(uuid.uuid4())
        self.name = projection.name
        self.partitions = partitions
        self.lease_timeout = lease_timeout
        self.renew_interval = renew_interval or lease_timeout / 3
        self.target = target
        self.on_change = on_change
        self.runner = ProjectionRunner(
            store,
            projection,
            target,
            partitions=partitions,
            owned=(),
            runner_id=self.worker_id,
            heartbeat_interval=self.renew_interval,
            **runner_options,
        )
        self._held: frozenset[int] = frozenset()
        self._releasing: set[int] = set()
        self._session: SqlSession | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> frozenset[int]:
        """The partitions this worker holds leases for."""
        return self._held

    async def start(self) -> None:
        """Start the runner, take a first share of the partitions, start the lease loop."""
        await self.runner.start()
        self._session = await self.target.connect()
        await self._session.migrate()
        await self._ensure_rows()
        await self.rebalance()
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"factstream-leases-{self.name}"
        )

    async def stop(self) -> None:
        """Stop applying, then release the leases so others take them over at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.runner.stop()
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                await session.execute(
                    session.dialect.convert(
                        "UPDATE factstream_leases SET owner = NULL, expires_at = 0 "
                        "WHERE name = ? AND owner = ?"
                    ),
                    (self.name, self.worker_id),
                )
            with contextlib.suppress(Exception):
                await session.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_for(self, position: int, timeout: float | None = None) -> bool:
        """Wait until this worker's partitions reflect ``position`` (see
        :meth:`ProjectionRunner.wait_for`; for all partitions use
        :class:`CheckpointWaiter`)."""
        return await self.runner.wait_for(position, timeout)

    # -- the lease loop ---------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.renew_interval)
            try:
                await self.rebalance()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Keep the partitions we have until the leases lapse; a database outage
                # stops the runner's batches too, and nothing is applied without a lease row
                # being ours at claim time.
                _log.warning("projection %s: lease renewal failed", self.name, exc_info=True)
                with contextlib.suppress(Exception):
                    await self._reconnect()
            if self.runner.error is not None:
                return

    async def _reconnect(self) -> None:
        if self._session is not None:
            with contextlib.suppress(Exception):
                await self._session.close()
        self._session = await self.target.connect()

    async def _ensure_rows(self) -> None:
        session = self._session
        assert session is not None
        for partition in range(self.partitions):
            await session.execute(
                session.dialect.convert(
                    "INSERT INTO factstream_leases (name, partition, owner, expires_at) "
                    "VALUES (?, ?, NULL, 0) ON CONFLICT DO NOTHING"
                ),
                (self.name, partition),
            )

    async def rebalance(self) -> frozenset[int]:
        """Renew, release above the fair share, claim up to it. Returns what is held."""
        session = self._session
        assert session is not None
        dialect = session.dialect
        now = dialect.now
        convert = dialect.convert
        name, me, timeout = self.name, self.worker_id, self.lease_timeout

        # 1. Give back what we stopped applying at the previous round.
        for partition in sorted(self._releasing):
            await session.execute(
                convert(
                    "UPDATE factstream_leases SET owner = NULL, expires_at = 0 "
                    "WHERE name = ? AND partition = ? AND owner = ?"
                ),
                (name, partition, me),
            )
        self._releasing.clear()

        # 2. Renew ours; a lease someone took over (ours lapsed) is lost.
        await session.execute(
            convert(
                f"UPDATE factstream_leases SET expires_at = {now} + ? "
                f"WHERE name = ? AND owner = ? AND expires_at >= {now}"
            ),
            (timeout, name, me),
        )
        rows = await session.query(
            convert(
                "SELECT partition FROM factstream_leases WHERE name = ? AND owner = ? "
                f"AND expires_at >= {now}"
            ),
            (name, me),
        )
        held = {int(row[0]) for row in rows}

        # 3. The fair share among the live workers (their heartbeats, by the same clock).
        live = await session.query(
            convert(
                "SELECT count(*) FROM factstream_runners WHERE name = ? AND state = 'running' "
                f"AND heartbeat_at >= {now} - ?"
            ),
            (name, timeout),
        )
        workers = max(int(live[0][0]), 1)
        share = math.ceil(self.partitions / workers)

        if len(held) > share:
            # Stop applying the extra partitions now; release them next round, when the
            # runner has finished the batch it may be in.
            extra = sorted(held)[share:]
            self._releasing.update(extra)
            held.difference_update(extra)
        elif len(held) < share:
            for partition in range(self.partitions):
                if len(held) >= share:
                    break
                if partition in held:
                    continue
                claimed = await session.execute(
                    convert(
                        f"UPDATE factstream_leases SET owner = ?, expires_at = {now} + ? "
                        "WHERE name = ? AND partition = ? "
                        f"AND (owner IS NULL OR expires_at < {now})"
                    ),
                    (me, timeout, name, partition),
                )
                if claimed:
                    held.add(partition)
        self._set_held(frozenset(held))
        return self._held

    def _set_held(self, held: frozenset[int]) -> None:
        if held != self._held:
            _log.info("projection %s: worker %s holds %s", self.name, self.worker_id, sorted(held))
            self._held = held
            self.runner.set_owned(held)
            if self.on_change is not None:
                self.on_change(held)
