"""What the relay writes to Redis (the envelope and the ``fs-event`` field) and what a member
reads back, entries from before the field included, on the real server."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from factstream import MemoryEventStore, RecordedEvent
from factstream.streaming import (
    ConsumerGroup,
    GroupSettings,
    MemoryStreamingState,
    OutboundMessage,
    message_for,
)
from factstream.streaming.brokers.envelope import decode_envelope, encode_envelope
from factstream.streaming.brokers.redis_wire import read_event_field
from factstream.streaming.cloudevents import event_headers
from factstream.testing.contracts.broker import collect_deliveries, outbound
from tests.services import require
from tests.unit.streaming.helpers import running, wait_until

from .streaming_support import open_test_broker

pytest.importorskip("redis")

DATA, EVENT = b"__data__", b"fs-event"
SETTINGS = GroupSettings(max_in_flight=16, fetch_timeout=0.05, lease_ttl=0.45)


def events_of(stream_id: str, count: int, first_position: int = 1) -> list[RecordedEvent]:
    return [
        RecordedEvent(
            id=uuid.uuid4(),
            type="ItemAdded",
            data={"n": n, "note": "é"},
            metadata={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
            if n % 2
            else {},
            stream_id=stream_id,
            version=n,
            position=first_position + n - 1,
            timestamp=dt.datetime.now(dt.UTC),
            correlation_id=f"corr-{n}" if n % 2 else None,
        )
        for n in range(1, count + 1)
    ]


@pytest.fixture
async def broker() -> AsyncIterator[Any]:
    broker = await open_test_broker("redis", partitions=2, batch_size=64)
    await broker.setup()
    try:
        yield broker
    finally:
        await broker.destroy()
        await broker.close()


def old_entry(event: RecordedEvent, source: str = "old-relay") -> dict[bytes, bytes]:
    """An entry as relays wrote them before the ``fs-event`` field: the envelope alone."""
    body = msgspec.json.encode(event.data)
    return {DATA: encode_envelope(event_headers(event, source), body)}


async def test_the_relay_s_entries_hold_the_envelope_and_the_event_field(broker: Any) -> None:
    events = events_of("order-1", 5) + events_of("order-2", 5, 6) + events_of("order-7", 3, 11)
    messages: list[OutboundMessage] = [message_for(e, 2, "test") for e in events]
    messages.insert(4, outbound(1, partition=0))  # not an event: the envelope only
    messages.insert(9, outbound(2, partition=1))
    futures = [await broker.publish(message) for message in messages]  # one batch
    await asyncio.wait_for(asyncio.gather(*futures), 10)
    for partition in range(2):
        entries = await broker._redis.xrange(broker.key(partition))
        expected = [m for m in messages if m.partition == partition]
        assert len(entries) == len(expected) > 2
        for (_, fields), message in zip(entries, expected, strict=True):
            # What a plain FastStream subscriber reads is as it was.
            assert decode_envelope(fields[DATA]) == (dict(message.headers), message.body)
            if message.event is None:
                assert set(fields) == {DATA}
            else:
                assert set(fields) == {DATA, EVENT}
                read = read_event_field(fields[EVENT], message.body)
                assert (read.msg_id, read.event) == (message.msg_id, message.event)


async def test_a_member_reads_entries_from_before_the_event_field_and_after(
    broker: Any,
) -> None:
    events = events_of("order-1", 4)
    partition = message_for(events[0], 2, "test").partition
    key = broker.key(partition)
    for event in events[:2]:  # written by an older relay, still in the broker
        await broker._redis.xadd(key, old_entry(event))
    for event in events[2:]:
        await (await broker.publish(message_for(event, 2, "test")))
    consumer = await broker.consumer("reader", partition, max_in_flight=16, member="m-1")
    deliveries = await collect_deliveries(consumer, 4)
    assert [d.event is None for d in deliveries] == [True, True, False, False]
    assert [d.msg_id for d in deliveries] == [str(e.id) for e in events]
    assert [d.event for d in deliveries[2:]] == events[2:]
    assert deliveries[0].headers["ce-source"] == "old-relay"
    assert deliveries[3].headers["ce-source"] == "test"  # read from the envelope when asked
    assert [d.body for d in deliveries] == [msgspec.json.encode(e.data) for e in events]
    await consumer.close()

    handled, state = await _handled_by_a_group(broker, 4)
    assert handled == events
    assert (await state.load_marks("g", ["order-1"]))["order-1"].version == 4


async def test_an_unreadable_event_field_is_read_from_the_headers(broker: Any) -> None:
    (event,) = events_of("order-1", 1)
    partition = message_for(event, 2, "test").partition
    await broker._redis.xadd(
        broker.key(partition), {**old_entry(event, "test"), EVENT: b'{"msg_id":"x","event":'}
    )
    consumer = await broker.consumer("reader", partition, max_in_flight=16, member="m-1")
    (delivery,) = await collect_deliveries(consumer, 1)
    assert delivery.event is None
    assert delivery.msg_id == str(event.id)
    assert delivery.headers["ce-fsversion"] == "1"
    await consumer.close()

    handled, _ = await _handled_by_a_group(broker, 1)
    assert handled == [event]


async def test_trimmed_partitions_keep_the_event_field() -> None:
    broker: Any = await open_test_broker("redis", partitions=1, maxlen=100, batch_size=50)
    try:
        events = events_of("order-1", 400)
        futures = [await broker.publish(message_for(e, 1, "test")) for e in events]
        await asyncio.wait_for(asyncio.gather(*futures), 10)
        assert 100 <= await broker._redis.xlen(broker.key(0)) < 400
        ((_, fields),) = await broker._redis.xrevrange(broker.key(0), count=1)
        read = read_event_field(fields[EVENT], msgspec.json.encode(events[-1].data))
        assert read.event == events[-1]
    finally:
        await broker.destroy()
        await broker.close()


@pytest.mark.parametrize("protocol", [2, 3])
async def test_a_member_reads_its_entries_over_either_redis_protocol(protocol: int) -> None:
    """Members read XREADGROUP replies as the parser made them: RESP2 lists, RESP3 maps."""
    import redis.asyncio as aioredis

    from factstream.streaming.brokers.redis import RedisStreamsBroker

    require("Redis", "127.0.0.1", 6379)
    client = aioredis.Redis.from_url("redis://127.0.0.1:6379/0", protocol=protocol)
    broker = RedisStreamsBroker(client, prefix=f"fstest{uuid.uuid4().hex[:10]}", partitions=1)
    try:
        events = events_of("order-1", 3)
        await broker._redis.xadd(broker.key(0), old_entry(events[0]))
        for event in events[1:]:
            await (await broker.publish(message_for(event, 1, "test")))
        consumer = await broker.consumer("reader", 0, max_in_flight=16, member="m-1")
        deliveries = await collect_deliveries(consumer, 3, ack=False)
        assert [d.event for d in deliveries] == [None, *events[1:]]
        await consumer.nak(deliveries[1:])  # read again, from the pending entries
        again = await collect_deliveries(consumer, 2)
        assert [d.event for d in again] == events[1:]
        assert [d.delivery_count for d in again] == [2, 2]
        await consumer.close()
    finally:
        await broker.destroy()
        await broker.close()


async def _handled_by_a_group(
    broker: Any, count: int
) -> tuple[list[RecordedEvent], MemoryStreamingState]:
    """Run a consumer group "g" on the broker until its handler has seen ``count`` events."""
    handled: list[RecordedEvent] = []

    async def handler(event: RecordedEvent) -> None:
        handled.append(event)

    store, state = await MemoryEventStore.open(), MemoryStreamingState()
    group = ConsumerGroup("g", broker, store, state, handler, SETTINGS)
    async with running(group.run()):
        await wait_until(lambda: len(handled) == count)
    await store.close()
    return handled, state
