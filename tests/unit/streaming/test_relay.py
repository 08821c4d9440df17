"""The relay on the in-memory store, broker and state."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from factstream import MemoryEventStore, NewEvent
from factstream.streaming import (
    MemoryBroker,
    MemoryStreamingState,
    Relay,
    RelaySettings,
    event_from_message,
)

from .helpers import wait_until

FAST = RelaySettings(lease_ttl=0.6, ack_timeout=1.0, backoff_initial=0.05, backoff_max=0.2)


@pytest.fixture
async def store() -> AsyncIterator[MemoryEventStore]:
    store = await MemoryEventStore.open()
    yield store
    await store.close()


async def append_many(store: MemoryEventStore, streams: int, per_stream: int) -> None:
    for version in range(per_stream):
        for s in range(streams):
            await store.append(f"order-{s}", [NewEvent("Happened", {"n": version})])


def published(broker: MemoryBroker) -> list[tuple[str, int, int]]:
    out = []
    for partition in range(broker.partitions):
        for message in broker.messages(partition):
            event = event_from_message(message.headers, message.body)
            out.append((event.stream_id, event.version, event.position))
    return out


def is_active(relay: Relay) -> bool:
    return relay.status.active


@contextlib.asynccontextmanager
async def running(relay: Relay) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_relay_publishes_the_log_in_order_and_saves_its_checkpoint(
    store: MemoryEventStore,
) -> None:
    broker, state = MemoryBroker(4), MemoryStreamingState()
    await append_many(store, 10, 5)
    relay = Relay(store, broker, state, FAST)
    async with running(relay):
        await relay.wait_for(50, timeout=10)
        await append_many(store, 10, 1)  # live events after catching up
        await relay.wait_for(60, timeout=10)
        await wait_until(lambda: relay.status.checkpoint == 60)
    assert await state.load_checkpoint("relay:default") == 60
    sent = published(broker)
    assert sorted(p for _, _, p in sent) == list(range(1, 61))
    for partition in range(4):
        positions = [
            event_from_message(m.headers, m.body).position for m in broker.messages(partition)
        ]
        assert positions == sorted(positions)


async def test_relay_restarts_from_its_checkpoint(store: MemoryEventStore) -> None:
    broker, state = MemoryBroker(2), MemoryStreamingState()
    await append_many(store, 3, 3)
    relay = Relay(store, broker, state, FAST)
    async with running(relay):
        await relay.wait_for(9, timeout=10)
    await append_many(store, 3, 1)
    second = Relay(store, broker, state, FAST)
    async with running(second):
        await second.wait_for(12, timeout=10)
    assert sorted(p for _, _, p in published(broker)) == list(range(1, 13))


async def test_relay_backs_off_while_the_broker_is_down_and_loses_nothing(
    store: MemoryEventStore,
) -> None:
    broker, state = MemoryBroker(2), MemoryStreamingState()
    relay = Relay(store, broker, state, FAST)
    async with running(relay):
        await append_many(store, 2, 2)
        await relay.wait_for(4, timeout=10)
        broker.set_available(False)
        await append_many(store, 2, 2)
        await wait_until(lambda: relay.status.failures >= 2)
        assert relay.status.acked_position == 4
        broker.set_available(True)
        await relay.wait_for(8, timeout=10)
    assert sorted(p for _, _, p in published(broker)) == list(range(1, 9))


async def test_a_standby_relay_takes_over_when_the_active_one_stops(
    store: MemoryEventStore,
) -> None:
    broker, state = MemoryBroker(2), MemoryStreamingState()
    first, standby = Relay(store, broker, state, FAST), Relay(store, broker, state, FAST)
    await append_many(store, 2, 2)
    first_task = asyncio.create_task(first.run())
    await first.wait_for(4, timeout=10)
    async with running(standby):
        await asyncio.sleep(FAST.lease_ttl)  # the standby tries and stays standby
        assert first.status.active
        assert not standby.status.active
        first_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first_task
        await append_many(store, 2, 2)
        await standby.wait_for(8, timeout=10)
        assert is_active(standby)
    positions = sorted(p for _, _, p in published(broker))
    assert set(positions) == set(range(1, 9))


async def test_relay_republishes_everything_when_the_broker_was_wiped(
    store: MemoryEventStore,
) -> None:
    broker, state = MemoryBroker(2), MemoryStreamingState()
    await append_many(store, 2, 2)
    await state.save_checkpoint("relay:default", 4)  # as if published to a broker now empty
    relay = Relay(store, broker, state, FAST)
    async with running(relay):
        await relay.wait_for(4, timeout=10)
    assert sorted(p for _, _, p in published(broker)) == [1, 2, 3, 4]


async def test_relay_does_not_publish_snapshots_but_moves_past_them(
    store: MemoryEventStore,
) -> None:
    broker, state = MemoryBroker(2), MemoryStreamingState()
    await store.append("order-1", [NewEvent("Happened", {"n": 0})])
    await store.append("snapshot-order-1", [NewEvent("factstream.snapshot", {"state": {}})])
    await store.append("order-1", [NewEvent("Happened", {"n": 1})])
    relay = Relay(store, broker, state, FAST)
    async with running(relay):
        await relay.wait_for(3, timeout=10)
        await wait_until(lambda: relay.status.checkpoint == 3)
    # One stream, one partition: in order, and the snapshot (position 2) never went out.
    assert published(broker) == [("order-1", 1, 1), ("order-1", 2, 3)]
    assert await state.load_checkpoint("relay:default") == 3
