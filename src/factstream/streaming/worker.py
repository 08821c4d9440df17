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

_NO_MARK = StreamMark()

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

    async def _load_marks(self, events: list[RecordedEvent | None]) -> None:
        marks = self._marks
        missing = {e.stream_id for e in events if e is not None and e.stream_id not in marks}
        if missing:
            found = await self.state.load_marks(self.group, missing)
            for stream_id in missing:
                marks[stream_id] = found.get(stream_id, _NO_MARK)
        while len(marks) > self.cache_size:
            marks.popitem(last=False)

    def _events(self, deliveries: list[Delivery]) -> list[RecordedEvent | None]:
        """The deliveries' events (``None``: unreadable)."""
        events: list[RecordedEvent | None] = []
        for delivery in deliveries:
            event = delivery.event  # read by the adapter (Redis's fs-event field)
            if event is None:
                try:
                    event = event_from_message(delivery.headers, delivery.body)
                except MalformedMessage as exc:
                    _log.warning(
                        "group %s: unreadable message %s: %s", self.group, delivery.msg_id, exc
                    )
            events.append(event)
        return events

    async def _process(self, consumer: PartitionConsumer, deliveries: list[Delivery]) -> None:
        events = self._events(deliveries)
        await self._load_marks(events)
        marks = self._marks
        handler = self.handler
        stats = self.stats
        # The last version applied in this batch per stream; marks are made once, at the end.
        applied: dict[str, int] = {}
        updates: dict[str, StreamMark] = {}
        for delivery, event in zip(deliveries, events, strict=True):
            if event is None:
                await self._dead_letter(delivery, "unreadable message", delivery.delivery_count)
                continue
            stream_id = event.stream_id
            version = event.version
            last = applied.get(stream_id)
            if last is None:
                mark = marks.get(stream_id) or _NO_MARK
                if mark.parked is not None and stream_id not in updates:
                    # A replay elsewhere may have unparked it: look again before parking more.
                    mark = (await self.state.load_marks(self.group, [stream_id])).get(
                        stream_id, _NO_MARK
                    )
                    marks[stream_id] = mark
                if mark.parked is not None:
                    if version > mark.version:
                        await self._dead_letter(
                            delivery,
                            f"stream {stream_id!r} is parked from version {mark.parked}",
                            0,
                        )
                    else:
                        stats.skipped += 1
                    continue
                last = mark.version
            if version <= last:
                stats.skipped += 1
                continue
            if version == last + 1:
                # The usual case: the next version, handled once.
                try:
                    await handler(event)
                except Exception as exc:
                    handled = await self._retry(event, delivery, exc)
                else:
                    stats.handled += 1
                    handled = True
                if handled:
                    applied[stream_id] = version
                else:
                    self._park(stream_id, last, version, applied, updates)
                continue
            # A gap: the missing versions come from the store first.
            gap = await self.store.read(stream_id, last + 1, limit=version - last - 1)
            stats.gap_events += len(gap)
            for item in [*gap, event]:
                if await self._apply(item, delivery):
                    last = item.version
                else:
                    self._park(stream_id, last, item.version, applied, updates)
                    break
            else:
                applied[stream_id] = last
        for stream_id, version in applied.items():
            marks[stream_id] = updates[stream_id] = StreamMark(version)
        if updates:
            await self.state.save_marks(self.group, updates)
        await consumer.ack(deliveries)

    def _park(
        self,
        stream_id: str,
        last: int,
        failed: int,
        applied: dict[str, int],
        updates: dict[str, StreamMark],
    ) -> None:
        """Park ``stream_id`` from version ``failed`` (``last`` applied before it)."""
        applied.pop(stream_id, None)
        self._marks[stream_id] = updates[stream_id] = StreamMark(last, failed)

    async def _apply(self, event: RecordedEvent, delivery: Delivery) -> bool:
        try:
            await self.handler(event)
        except Exception as exc:
            return await self._retry(event, delivery, exc)
        self.stats.handled += 1
        return True

    async def _retry(self, event: RecordedEvent, delivery: Delivery, error: Exception) -> bool:
        """Try ``event`` again after its first attempt raised ``error``, as the retry policy
        says; dead-letter it when every attempt failed. Whether it was handled."""
        retry = self.retry
        attempt = 1
        while attempt < retry.max_attempts:
            self.stats.retries += 1
            await asyncio.sleep(retry.delay(attempt))
            attempt += 1
            try:
                await self.handler(event)
            except Exception as exc:
                error = exc
            else:
                self.stats.handled += 1
                return True
        _log.error(
            "group %s: %s v%d of %r failed %d times, dead-lettered: %r",
            self.group,
            event.type,
            event.version,
            event.stream_id,
            attempt,
            error,
        )
        count = attempt + max(delivery.delivery_count - 1, 0)
        await self._dead_letter(self._as_delivery(event, delivery), repr(error), count)
        return False

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
