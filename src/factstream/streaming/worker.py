"""One consumer group's reader of one partition: dedupe by version, gaps, retries, parking."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec

from ..events import RecordedEvent
from ..store.base import EventStore
from .brokers.base import Broker, Delivery, PartitionConsumer
from .cloudevents import MalformedMessage, event_from_message, event_headers
from .state.base import StreamingState, StreamMark

__all__ = ["Handler", "PartitionStats", "PartitionWorker", "RetryPolicy"]

_log = logging.getLogger("factstream.streaming.consumer")

Handler = Callable[[RecordedEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failing event is tried before it goes to the dead letters.

    Attempt ``n`` (from 1) that fails waits ``min(initial_delay * multiplier**(n-1), max_delay)``
    before the next; after ``max_attempts`` failures the event is dead-lettered and its stream
    parked.
    """

    max_attempts: int = 5
    initial_delay: float = 0.1
    max_delay: float = 5.0
    multiplier: float = 2.0

    def delay(self, attempt: int) -> float:
        return float(min(self.initial_delay * self.multiplier ** (attempt - 1), self.max_delay))


@dataclass(slots=True)
class PartitionStats:
    """Counters of one partition reader (they start at 0 when the member takes it)."""

    handled: int = 0
    skipped: int = 0
    gap_events: int = 0
    dead_lettered: int = 0
    retries: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class PartitionWorker:
    """Reads one partition in order until cancelled. Its owner holds the partition's lease."""

    def __init__(
        self,
        group: str,
        partition: int,
        broker: Broker,
        store: EventStore,
        state: StreamingState,
        handler: Handler,
        *,
        member: str,
        max_in_flight: int,
        fetch_timeout: float,
        retry: RetryPolicy,
        cache_size: int,
    ) -> None:
        self.group = group
        self.partition = partition
        self.broker = broker
        self.store = store
        self.state = state
        self.handler = handler
        self.member = member
        self.max_in_flight = max_in_flight
        self.fetch_timeout = fetch_timeout
        self.retry = retry
        self.cache_size = cache_size
        self.stats = PartitionStats()
        self.consumer: PartitionConsumer | None = None
        #: handling a batch (its events handled, marks and acks not recorded yet).
        self.busy = False
        self._stopping = False
        self._marks: OrderedDict[str, StreamMark] = OrderedDict()

    async def run(self) -> None:
        consumer = await self.broker.consumer(
            self.group, self.partition, max_in_flight=self.max_in_flight, member=self.member
        )
        self.consumer = consumer
        try:
            while not self._stopping:
                batch = await consumer.fetch(self.max_in_flight, self.fetch_timeout)
                if batch:
                    self.busy = True
                    try:
                        await self._process(consumer, batch)
                    finally:
                        self.busy = False
        finally:
            self.consumer = None
            await asyncio.shield(consumer.close())

    def stop_after_batch(self) -> None:
        """End :meth:`run` once the batch being handled is recorded and acknowledged (a
        partition given to another member then starts there with nothing handled twice)."""
        self._stopping = True

    async def _load_marks(self, batch: list[tuple[Delivery, RecordedEvent | None]]) -> None:
        marks = self._marks
        missing = {e.stream_id for _, e in batch if e is not None and e.stream_id not in marks}
        if missing:
            found = await self.state.load_marks(self.group, missing)
            for stream_id in missing:
                marks[stream_id] = found.get(stream_id, StreamMark())
        while len(marks) > self.cache_size:
            marks.popitem(last=False)

    async def _process(self, consumer: PartitionConsumer, deliveries: list[Delivery]) -> None:
        batch: list[tuple[Delivery, RecordedEvent | None]] = []
        for delivery in deliveries:
            try:
                batch.append((delivery, event_from_message(delivery.headers, delivery.body)))
            except MalformedMessage as exc:
                batch.append((delivery, None))
                _log.warning(
                    "group %s: unreadable message %s: %s", self.group, delivery.msg_id, exc
                )
        await self._load_marks(batch)
        marks = self._marks
        updates: dict[str, StreamMark] = {}
        for delivery, event in batch:
            if event is None:
                await self._dead_letter(delivery, "unreadable message", delivery.delivery_count)
                continue
            stream_id = event.stream_id
            mark = marks.get(stream_id) or StreamMark()
            if mark.parked is not None and stream_id not in updates:
                # A replay elsewhere may have unparked it: look again before parking more.
                mark = (await self.state.load_marks(self.group, [stream_id])).get(
                    stream_id, StreamMark()
                )
            if event.version <= mark.version:
                self.stats.skipped += 1
                continue
            if mark.parked is not None:
                await self._dead_letter(
                    delivery, f"stream {stream_id!r} is parked from version {mark.parked}", 0
                )
                continue
            todo = [event]
            if event.version > mark.version + 1:
                gap = await self.store.read(
                    stream_id, mark.version + 1, limit=event.version - mark.version - 1
                )
                self.stats.gap_events += len(gap)
                todo = [*gap, event]
            for item in todo:
                if await self._apply(item, delivery):
                    mark = StreamMark(item.version, None)
                else:
                    mark = StreamMark(mark.version, item.version)
                    break
            marks[stream_id] = updates[stream_id] = mark
        if updates:
            await self.state.save_marks(self.group, updates)
        await consumer.ack(deliveries)

    async def _apply(self, event: RecordedEvent, delivery: Delivery) -> bool:
        retry = self.retry
        for attempt in range(1, retry.max_attempts + 1):
            try:
                await self.handler(event)
            except Exception as exc:
                if attempt >= retry.max_attempts:
                    _log.error(
                        "group %s: %s v%d of %r failed %d times, dead-lettered: %r",
                        self.group,
                        event.type,
                        event.version,
                        event.stream_id,
                        attempt,
                        exc,
                    )
                    count = attempt + max(delivery.delivery_count - 1, 0)
                    await self._dead_letter(self._as_delivery(event, delivery), repr(exc), count)
                    return False
                self.stats.retries += 1
                await asyncio.sleep(retry.delay(attempt))
            else:
                self.stats.handled += 1
                return True
        return False  # pragma: no cover - max_attempts >= 1

    def _as_delivery(self, event: RecordedEvent, delivery: Delivery) -> Delivery:
        if delivery.msg_id == str(event.id) or delivery.headers.get("ce-id") == str(event.id):
            return delivery
        # An event fetched back from the store for a gap: dead-letter it as the relay would
        # have published it.
        headers = event_headers(event, delivery.headers.get("ce-source", "factstream"))
        body = msgspec.json.encode(event.data)
        return Delivery(self.partition, str(event.id), headers, body, 0, "", None)

    async def _dead_letter(self, delivery: Delivery, error: str, count: int) -> None:
        self.stats.dead_lettered += 1
        await self.broker.dead_letter(self.group, delivery, error, count)


def new_member_id() -> str:
    return f"m-{uuid.uuid4().hex[:12]}"
