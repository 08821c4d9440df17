"""Consumer groups on the in-memory store, broker and state."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from factstream import MemoryEventStore, NewEvent, RecordedEvent
from factstream.streaming import (
    ConsumerGroup,
    DeadLetters,
    GroupSettings,
    MemoryBroker,
    MemoryStreamingState,
    Relay,
    RetryPolicy,
    message_for,
)

from .helpers import Recorder, running, wait_until
from .test_relay import FAST

GROUP = GroupSettings(
    max_in_flight=16,
    fetch_timeout=0.05,
    lease_ttl=0.45,
    retry=RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02),
)


@pytest.fixture
async def store() -> AsyncIterator[MemoryEventStore]:
    store = await MemoryEventStore.open()
    yield store
    await store.close()


async def append_round(store: MemoryEventStore, streams: int, version: int) -> None:
    for s in range(streams):
        await store.append(f"order-{s}", [NewEvent("Happened", {"v": version})])


async def test_three_members_share_partitions_and_apply_every_event_once_in_order(
    store: MemoryEventStore,
) -> None:
    broker, state, recorder = MemoryBroker(6), MemoryStreamingState(), Recorder()
    relay = Relay(store, broker, state, FAST)
    members = [ConsumerGroup("g", broker, store, state, recorder, GROUP) for _ in range(3)]
    async with running(relay.run(), *(m.run() for m in members)):
        for version in range(1, 21):
            await append_round(store, 12, version)
        await wait_until(lambda: recorder.count == 240)
        await wait_until(lambda: all(len(m.status.partitions) == 2 for m in members))
        owned = sorted(p for m in members for p in m.status.partitions)
    recorder.check_in_order_once({f"order-{s}": 20 for s in range(12)})
    assert owned == list(range(6))


async def test_partitions_move_when_a_member_leaves_and_come_back_when_one_joins(
    store: MemoryEventStore,
) -> None:
    broker, state, recorder = MemoryBroker(4), MemoryStreamingState(), Recorder()
    relay = Relay(store, broker, state, FAST)
    first = ConsumerGroup("g", broker, store, state, recorder, GROUP)
    second = ConsumerGroup("g", broker, store, state, recorder, GROUP)
    async with running(relay.run(), first.run()):
        second_task = asyncio.ensure_future(second.run())
        await wait_until(lambda: len(first.status.partitions) == 2)
        await append_round(store, 8, 1)
        await wait_until(lambda: recorder.count == 8)
        second_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await second_task
        await wait_until(lambda: len(first.status.partitions) == 4)
        await append_round(store, 8, 2)
        await wait_until(lambda: recorder.count == 16)
    recorder.check_in_order_once({f"order-{s}": 2 for s in range(8)})


async def test_duplicates_are_skipped_and_gaps_are_fetched_from_the_store(
    store: MemoryEventStore,
) -> None:
    broker, state, recorder = MemoryBroker(1), MemoryStreamingState(), Recorder()
    for n in range(5):
        await store.append("order-1", [NewEvent("Happened", {"n": n})])
    log = [e async for e in store.read_all()]
    # The broker holds v1, v1 again, v4 (v2 and v3 missing), v2, v5.
    for index in (0, 0, 3, 1, 4):
        await broker.publish(message_for(log[index], 1, "test"))
    group = ConsumerGroup("g", broker, store, state, recorder, GROUP)
    async with running(group.run()):
        await wait_until(lambda: recorder.count == 5)
        await wait_until(lambda: sum(s.skipped for s in group.status.stats.values()) == 2)
    assert recorder.applied["order-1"] == [1, 2, 3, 4, 5]
    assert group.status.stats[0].gap_events == 2
    marks = await state.load_marks("g", ["order-1"])
    assert marks["order-1"].version == 5


async def test_a_handler_that_fails_then_succeeds_applies_the_event_once(
    store: MemoryEventStore,
) -> None:
    broker, state, recorder = MemoryBroker(1), MemoryStreamingState(), Recorder()
    failures = {("order-0", 2): 2}  # fails twice, then works (max_attempts is 3)
    original = recorder.__call__

    async def flaky(event: RecordedEvent) -> None:
        key = (event.stream_id, event.version)
        if failures.get(key, 0) > 0:
            failures[key] -= 1
            raise ValueError("not yet")
        await original(event)

    relay = Relay(store, broker, state, FAST)
    group = ConsumerGroup("g", broker, store, state, flaky, GROUP)
    async with running(relay.run(), group.run()):
        for version in range(1, 4):
            await append_round(store, 1, version)
        await wait_until(lambda: recorder.count == 3)
    assert recorder.applied["order-0"] == [1, 2, 3]
    assert group.status.stats[0].retries == 2
    assert group.status.stats[0].dead_lettered == 0
    assert await DeadLetters(broker, state, "g").list() == []


async def test_an_event_fetched_for_a_gap_that_keeps_failing_parks_its_stream(
    store: MemoryEventStore,
) -> None:
    broker, state, recorder = MemoryBroker(1), MemoryStreamingState(), Recorder()
    recorder.fail_on.add(("order-1", 2))
    for n in range(4):
        await store.append("order-1", [NewEvent("Happened", {"n": n})])
    log = [e async for e in store.read_all()]
    # The broker holds v1 and v4: v2 and v3 come from the store, and v2 is poison.
    for index in (0, 3):
        await broker.publish(message_for(log[index], 1, "test"))
    group = ConsumerGroup("g", broker, store, state, recorder, GROUP)
    async with running(group.run()):
        await wait_until(lambda: len(broker._letters.get("g", [])) == 1)
    assert recorder.applied["order-1"] == [1]
    letters = await DeadLetters(broker, state, "g").list()
    assert [letter.headers["ce-fsversion"] for letter in letters] == ["2"]
    assert letters[0].delivery_count == 3
    marks = await state.load_marks("g", ["order-1"])
    assert (marks["order-1"].version, marks["order-1"].parked) == (1, 2)


async def test_a_poison_event_is_dead_lettered_its_stream_parked_and_the_rest_flows(
    store: MemoryEventStore,
) -> None:
    broker, state, recorder = MemoryBroker(2), MemoryStreamingState(), Recorder()
    recorder.fail_on.add(("order-1", 2))
    relay = Relay(store, broker, state, FAST)
    group = ConsumerGroup("g", broker, store, state, recorder, GROUP)
    async with running(relay.run(), group.run()):
        for version in range(1, 5):
            await append_round(store, 4, version)
        await wait_until(lambda: recorder.count == 13)  # 16 events, minus v2-v4 of order-1
        letters = DeadLetters(broker, state, "g")
        await wait_until(lambda: len(broker._letters.get("g", [])) == 3)
        listed = await letters.list()
        assert [letter.headers["ce-fsversion"] for letter in listed] == ["2", "3", "4"]
        assert "poison" in listed[0].error
        assert listed[0].delivery_count == 3
        assert "parked" in listed[1].error
        assert (await letters.parked())["order-1"].parked == 2
        assert recorder.applied["order-1"] == [1]
        # The fix ships: replay the stream.
        recorder.fail_on.clear()
        assert await letters.replay("order-1") == 3
        await wait_until(lambda: recorder.count == 16)
        await append_round(store, 4, 5)
        await wait_until(lambda: recorder.count == 20)
    recorder.check_in_order_once({f"order-{s}": 5 for s in range(4)})
    assert await DeadLetters(broker, state, "g").list() == []


async def test_skipping_dead_letters_lets_the_stream_flow_from_the_next_version(
    store: MemoryEventStore,
) -> None:
    broker, state, recorder = MemoryBroker(1), MemoryStreamingState(), Recorder()
    recorder.fail_on.add(("order-0", 1))
    relay = Relay(store, broker, state, FAST)
    group = ConsumerGroup("g", broker, store, state, recorder, GROUP)
    async with running(relay.run(), group.run()):
        await append_round(store, 1, 1)
        await append_round(store, 1, 2)
        await wait_until(lambda: len(broker._letters.get("g", [])) == 2)
        assert await DeadLetters(broker, state, "g").skip("order-0") == 2
        await append_round(store, 1, 3)
        await wait_until(lambda: recorder.count == 1)
    assert recorder.applied["order-0"] == [3]


async def test_lag_per_partition_is_observable(store: MemoryEventStore) -> None:
    broker, state = MemoryBroker(2), MemoryStreamingState()
    gate = asyncio.Event()

    async def slow(event: object) -> None:
        await gate.wait()

    for n in range(10):
        await store.append(f"order-{n}", [NewEvent("Happened", {})])
    for event in [e async for e in store.read_all()]:
        await broker.publish(message_for(event, 2, "t"))
    group = ConsumerGroup("g", broker, store, state, slow, GROUP)
    async with running(group.run()):
        await wait_until(lambda: len(group.status.partitions) == 2)
        await wait_until(lambda: all(w.consumer is not None for w, _ in group._workers.values()))
        lag = await group.lag()
        assert sum(lag.values()) == 10
        gate.set()
        await wait_until(lambda: group.status.handled == 10)
        for _ in range(50):
            if sum((await group.lag()).values()) == 0:
                break
            await asyncio.sleep(0.02)
        assert sum((await group.lag()).values()) == 0


async def test_a_partition_moved_to_a_joining_member_is_handled_once(
    store: MemoryEventStore,
) -> None:
    """The member giving a partition up finishes the batch in hand (records and acks it)
    before it stops, so the new owner does not handle that batch again."""
    broker, state = MemoryBroker(4), MemoryStreamingState()
    recorder = Recorder()

    async def slow(event: RecordedEvent) -> None:
        await asyncio.sleep(0.002)  # batches take a while: a rebalance lands mid-batch
        await recorder(event)

    for version in range(1, 41):
        await append_round(store, 8, version)
    relay = Relay(store, broker, state, FAST)
    first = ConsumerGroup("g", broker, store, state, slow, GROUP)
    second = ConsumerGroup("g", broker, store, state, slow, GROUP)
    async with running(relay.run(), first.run()):
        await wait_until(lambda: recorder.count >= 40)  # the first member is busy
        async with running(second.run()):
            await wait_until(lambda: len(second.status.partitions) == 2)
            await wait_until(lambda: recorder.count >= 320, timeout=30)
            await asyncio.sleep(0.2)  # anything handled twice would show by now
    assert first.status.rebalances >= 2  # took all four, then gave two away
    recorder.check_in_order_once({f"order-{s}": 40 for s in range(8)})
    assert recorder.count == 320


class _DeafBroker(MemoryBroker):
    """A broker whose consumers' fetch swallows cancellation while it blocks, as a client
    library's blocking read sometimes does (redis-py's XREADGROUP ... BLOCK)."""

    swallowed = 0

    async def consumer(self, group: str, partition: int, *, max_in_flight: int, member: str) -> Any:
        inner = await super().consumer(group, partition, max_in_flight=max_in_flight, member=member)
        fetch = inner.fetch

        async def deaf_fetch(max_messages: int, timeout: float) -> list[Any]:
            try:
                return await fetch(max_messages, timeout)
            except asyncio.CancelledError:
                _DeafBroker.swallowed += 1
                await asyncio.sleep(timeout)  # the blocking read ends on its own
                return []

        inner.fetch = deaf_fetch  # type: ignore[method-assign]
        return inner


async def test_a_member_stops_even_when_a_blocking_fetch_swallows_its_cancellation(
    store: MemoryEventStore,
) -> None:
    broker, state, recorder = _DeafBroker(2), MemoryStreamingState(), Recorder()
    relay = Relay(store, broker, state, FAST)
    group = ConsumerGroup("deaf", broker, store, state, recorder, GROUP)
    async with running(relay.run(), group.run()):
        await append_round(store, 4, 1)
        await wait_until(lambda: recorder.count == 4)
        await wait_until(lambda: len(group.status.partitions) == 2)
    # Leaving cancelled workers blocked in fetch; the cancellations were lost, yet it ended.
    assert _DeafBroker.swallowed >= 1
    assert group.status.partitions == []
