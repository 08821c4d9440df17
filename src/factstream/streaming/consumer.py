"""Consumer groups: one active member per partition, rebalanced as members come and go."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..events import RecordedEvent
from ..events.correlation import HANDLING
from ..store.base import EventStore
from .brokers.base import Broker
from .partitioning import category_of, partition_of
from .state.base import StreamingState
from .worker import Handler, PartitionStats, PartitionWorker, RetryPolicy, new_member_id

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["ConsumerGroup", "GroupSettings", "GroupStatus", "RetryPolicy"]

_log = logging.getLogger("factstream.streaming.consumer")


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """How a member of a consumer group runs.

    Attributes:
        max_in_flight: messages a member holds unacknowledged per partition (backpressure).
        fetch_timeout: seconds a fetch waits for messages.
        lease_ttl: seconds before a dead member's partitions move to the others; members
            look at the membership every third of it.
        retry: what to do when the handler raises.
        cache_size: streams whose applied version a partition reader keeps in memory.
    """

    max_in_flight: int = 256
    fetch_timeout: float = 1.0
    lease_ttl: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    cache_size: int = 100_000


@dataclass(slots=True)
class GroupStatus:
    """What a member is doing.

    Attributes:
        members: the live members seen at the last look, sorted.
        partitions: the partitions this member reads now.
        stats: counters per partition this member has read.
        rebalances: times the assignment of this member changed.
    """

    members: list[str] = field(default_factory=list)
    partitions: list[int] = field(default_factory=list)
    stats: dict[int, PartitionStats] = field(default_factory=dict)
    rebalances: int = 0

    @property
    def handled(self) -> int:
        return sum(s.handled for s in self.stats.values())


# Seconds to wait for a cancelled partition worker before cancelling it again.
_STOP_GRACE = 1.0


class ConsumerGroup:
    """One member of the consumer group ``name``: run one per process (or task).

    Every member calls ``handler`` for the events of the partitions it owns, in stream order.
    Partitions are spread over the live members (partition p goes to the
    ``p mod n``-th member in sorted order); each is read by at most one member at a time,
    under a lease in the streaming state. When a member joins, leaves or dies (its leases
    expire after ``lease_ttl``) the partitions move.

    Delivery is at least once; versions already applied (recorded per stream in the
    streaming state after each batch, before the acks) are skipped, and a version gap is
    filled from the store, so the handler sees each stream's events in version order, and
    sees an event twice only if the member died between handling it and recording it (the
    last batch). An event the handler keeps failing on goes to the dead letters after the
    retry policy, and the stream is parked: its later events go there too until replayed.

    With a ``tracer_provider`` (extra ``otel``), every handler call runs in a ``process
    factstream`` consumer span: it continues the event's trace (its ``traceparent``
    metadata) for a live event, committed within the last minute, and only links to it for an
    older one (a new group reading from the start, a replay). Without a provider,
    OpenTelemetry is not imported.

    Run with ``await group.run()`` (until cancelled).
    """

    def __init__(
        self,
        name: str,
        broker: Broker,
        store: EventStore,
        state: StreamingState,
        handler: Handler,
        settings: GroupSettings | None = None,
        *,
        member: str | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.name = name
        self.broker = broker
        self.store = store
        self.state = state
        self.handler = handler
        self.tracer_provider = tracer_provider
        self._handle: Handler = self._correlated if tracer_provider is None else self._traced
        self.settings = settings or GroupSettings()
        self.member = member or new_member_id()
        self.status = GroupStatus()
        self._workers: dict[int, tuple[PartitionWorker, asyncio.Task[None]]] = {}
        self._member_key = f"group:{name}:member:"
        self._partition_key = f"group:{name}:partition:"

    async def run(self) -> None:
        """Take part in the group until cancelled; then give partitions and leases back."""
        ttl = self.settings.lease_ttl
        renewed = time.monotonic()
        try:
            while True:
                try:
                    await self._look(ttl)
                    renewed = time.monotonic()
                except Exception as exc:
                    _log.warning("group %s member %s: %r", self.name, self.member, exc)
                    if time.monotonic() - renewed > ttl * 2 / 3:
                        # Our leases may be gone: stop reading before another member starts.
                        await self._stop_all()
                await asyncio.sleep(ttl / 3)
        finally:
            await asyncio.shield(self._leave())

    async def lag(self) -> dict[int, int]:
        """Unacknowledged messages per partition this member reads."""
        found = {}
        for partition, (worker, _) in sorted(self._workers.items()):
            if worker.consumer is not None:
                found[partition] = await worker.consumer.lag()
        return found

    async def _look(self, ttl: float) -> None:
        state = self.state
        await state.acquire_lease(self._member_key + self.member, self.member, ttl)
        holders = await state.lease_holders(self._member_key)
        members = sorted({*holders.values(), self.member})
        partitions = self.broker.partitions
        wanted = {p for p in range(partitions) if members[p % len(members)] == self.member}
        if members != self.status.members:
            self.status.members = members
        for partition, (_, task) in list(self._workers.items()):
            if task.done():
                await self._stop(partition, "its reader stopped")
        owned = set(self._workers)
        for partition in sorted(owned - wanted):
            await self._stop(partition, "rebalanced", finish_batch=True)
        for partition in sorted(owned & wanted):
            if not await state.acquire_lease(
                self._partition_key + str(partition), self.member, ttl
            ):
                await self._stop(partition, "lease lost")
        for partition in sorted(wanted - set(self._workers)):
            if await state.acquire_lease(self._partition_key + str(partition), self.member, ttl):
                self._start(partition)
        current = sorted(self._workers)
        if current != self.status.partitions:
            self.status.rebalances += 1
            self.status.partitions = current

    def _start(self, partition: int) -> None:
        settings = self.settings
        worker = PartitionWorker(
            self.name,
            partition,
            self.broker,
            self.store,
            self.state,
            self._handle,
            member=self.member,
            max_in_flight=settings.max_in_flight,
            fetch_timeout=settings.fetch_timeout,
            retry=settings.retry,
            cache_size=settings.cache_size,
        )
        self.status.stats[partition] = worker.stats
        task = asyncio.get_running_loop().create_task(
            worker.run(), name=f"factstream-{self.name}-p{partition}"
        )
        self._workers[partition] = (worker, task)

    async def _correlated(self, event: RecordedEvent) -> None:
        token = HANDLING.set([event])  # what the handler logs carries the event's ids
        try:
            await self.handler(event)
        finally:
            HANDLING.reset(token)

    async def _traced(self, event: RecordedEvent) -> None:
        from ..observability.tracing import is_live, process_span

        stream_id = event.stream_id
        with process_span(
            [event],
            consumer=self.name,
            live=is_live(event),
            tracer_provider=self.tracer_provider,
            destination=category_of(stream_id),  # the subject's category, as published
            partition=partition_of(stream_id, self.broker.partitions),
        ):
            await self._correlated(event)

    async def _stop(self, partition: int, reason: str, *, finish_batch: bool = False) -> None:
        worker, task = self._workers.pop(partition)
        if finish_batch and worker.busy:
            # Still ours (the lease is held): let the batch in hand be recorded and acked, so
            # the next owner does not handle it again. Bounded: then it is cancelled anyway.
            worker.stop_after_batch()
            await asyncio.wait((task,), timeout=self.settings.lease_ttl / 3)
        # The flag ends the worker's loop at its next fetch even when the cancel is lost: a
        # client library's blocking read (redis-py's XREADGROUP ... BLOCK) can swallow it.
        worker.stop_after_batch()
        task.cancel()
        while not (await asyncio.wait((task,), timeout=_STOP_GRACE))[0]:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await task
            except Exception as exc:
                reason = f"{reason}: {exc!r}"
        _log.info(
            "group %s member %s: partition %d stopped (%s)",
            self.name,
            self.member,
            partition,
            reason,
        )
        with contextlib.suppress(Exception):
            await self.state.release_lease(self._partition_key + str(partition), self.member)

    async def _stop_all(self) -> None:
        for partition in list(self._workers):
            await self._stop(partition, "leases not renewed")
        self.status.partitions = []

    async def _leave(self) -> None:
        await self._stop_all()
        with contextlib.suppress(Exception):
            await self.state.release_lease(self._member_key + self.member, self.member)
