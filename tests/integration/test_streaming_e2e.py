"""End to end on the real brokers: appends while a relay and a 3-member group run.

The issue's size: 100,000 events per broker (``E2E_EVENTS``), about 30 s per broker on this
2-core machine with other work running (load average 10), less when it is quiet.
``FACTSTREAM_E2E_EVENTS=20000`` runs a smaller one.
"""

from __future__ import annotations

import asyncio
import os
import pathlib

import pytest

from factstream import NewEvent
from factstream.store.sqlite import SqliteEventStore
from factstream.streaming import (
    ConsumerGroup,
    DeadLetters,
    GroupSettings,
    Relay,
    RelaySettings,
    RetryPolicy,
    open_streaming_state,
)
from tests.unit.streaming.helpers import Recorder, running, wait_until

from .streaming_support import BROKERS, open_test_broker

E2E_EVENTS = int(os.environ.get("FACTSTREAM_E2E_EVENTS", "100000"))
STREAMS = 200
RELAY = RelaySettings(lease_ttl=2.0, ack_timeout=5.0, backoff_initial=0.05, backoff_max=0.5)
GROUP = GroupSettings(
    max_in_flight=256,
    fetch_timeout=0.2,
    lease_ttl=3.0,  # renewals every second keep up on a loaded 2-core machine
    retry=RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05),
)


async def append_load(store: SqliteEventStore, total: int, streams: int) -> None:
    """``total`` events over ``streams`` streams, 10 per append, 8 writers at once."""
    per_stream = total // streams

    async def writer(first: int) -> None:
        for stream in range(first, streams, 8):
            for start in range(0, per_stream, 10):
                batch = [NewEvent("Happened", {"n": start + i}) for i in range(10)]
                await store.append(f"order-{stream}", batch)

    await asyncio.gather(*(writer(w) for w in range(8)))


@pytest.mark.slow
@pytest.mark.parametrize("kind", BROKERS)
async def test_every_event_is_processed_once_in_stream_order(
    kind: str, tmp_path: pathlib.Path
) -> None:
    broker = await open_test_broker(kind, partitions=6)
    store = await SqliteEventStore.open(tmp_path / "events.db")
    state = await open_streaming_state(f"sqlite:///{tmp_path / 'events.db'}")
    recorder = Recorder()
    relay = Relay(store, broker, state, RELAY)
    members = [ConsumerGroup("e2e", broker, store, state, recorder, GROUP) for _ in range(3)]
    try:
        async with running(relay.run(), *(m.run() for m in members)):
            await append_load(store, E2E_EVENTS, STREAMS)
            # A bound, not a timing (under pytest-timeout's 120 s, so the stacks get printed).
            await wait_until(lambda: recorder.count >= E2E_EVENTS, timeout=100, step=0.1)
            spread = [len(m.status.partitions) for m in members]
        recorder.check_in_order_once({f"order-{s}": E2E_EVENTS // STREAMS for s in range(STREAMS)})
        assert recorder.count == E2E_EVENTS
        assert sorted(spread) == [2, 2, 2]
    finally:
        await broker.destroy()
        await broker.close()
        await state.close()
        await store.close()


@pytest.mark.parametrize("kind", BROKERS)
async def test_a_poison_event_goes_to_the_dead_letters_and_the_rest_flows(
    kind: str, tmp_path: pathlib.Path
) -> None:
    broker = await open_test_broker(kind, partitions=2)
    store = await SqliteEventStore.open(tmp_path / "events.db")
    state = await open_streaming_state(f"sqlite:///{tmp_path / 'events.db'}")
    recorder = Recorder()
    recorder.fail_on.add(("order-3", 2))
    relay = Relay(store, broker, state, RELAY)
    group = ConsumerGroup("poison", broker, store, state, recorder, GROUP)
    letters = DeadLetters(broker, state, "poison")
    try:
        async with running(relay.run(), group.run()):
            for version in range(1, 4):
                for stream in range(6):
                    await store.append(f"order-{stream}", [NewEvent("Happened", {"v": version})])
            await wait_until(lambda: recorder.count == 16, timeout=30)
            found: list[object] = []
            for _ in range(600):  # 30 s at most: the machine may be busy
                found = list(await letters.list())
                if len(found) == 2:
                    break
                await asyncio.sleep(0.05)
            listed = await letters.list()
            assert [m.headers["ce-fsversion"] for m in listed] == ["2", "3"]
            assert "poison" in listed[0].error
            assert listed[0].delivery_count == 3
            recorder.fail_on.clear()
            assert await letters.replay("order-3") == 2
            await wait_until(lambda: recorder.count == 18, timeout=30)
        recorder.check_in_order_once({f"order-{s}": 3 for s in range(6)})
        assert await letters.list() == []
    finally:
        await broker.destroy()
        await broker.close()
        await state.close()
        await store.close()
