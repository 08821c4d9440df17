"""The broker goes away for 10 s during a run: the relay backs off, catches up, nothing is lost.

Each test runs its own server on its own port, so the shared ones keep serving other tests.
Redis here keeps nothing on disk: its restart loses every stream and group, and the relay
republishes the store's log from the start (consumers skip what they applied).
"""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from factstream import NewEvent
from factstream.store.sqlite import SqliteEventStore
from factstream.streaming import ConsumerGroup, Relay, open_streaming_state
from factstream.streaming.brokers.base import Broker
from tests.integration.test_streaming_e2e import GROUP, RELAY
from tests.unit.streaming.helpers import Recorder, running, wait_until

from .streaming_servers import Server, nats_server, redis_server

OUTAGE = 10.0  # seconds, as the issue asks
STREAMS, ROUNDS = 20, 30


async def open_broker(kind: str, server: Server) -> Broker:
    if kind == "nats":
        from factstream.streaming.brokers.nats import NatsBroker

        return await NatsBroker.open(f"nats://127.0.0.1:{server.port}", partitions=3)
    from factstream.streaming.brokers.redis import RedisStreamsBroker

    return await RedisStreamsBroker.open(f"redis://127.0.0.1:{server.port}/0", partitions=3)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["nats", "redis"])
async def test_relay_and_group_survive_a_broker_outage(kind: str, tmp_path: pathlib.Path) -> None:
    server = nats_server(tmp_path) if kind == "nats" else redis_server(tmp_path)
    server.start()
    store = await SqliteEventStore.open(tmp_path / "events.db")
    state = await open_streaming_state(f"sqlite:///{tmp_path / 'events.db'}")
    broker = await open_broker(kind, server)
    recorder = Recorder()
    relay = Relay(store, broker, state, RELAY)
    group = ConsumerGroup("outage", broker, store, state, recorder, GROUP)

    async def write(rounds: range) -> None:
        for version in rounds:
            for stream in range(STREAMS):
                await store.append(f"order-{stream}", [NewEvent("Happened", {"v": version})])
            await asyncio.sleep(0.05)

    try:
        async with running(relay.run(), group.run()):
            await write(range(10))
            await wait_until(lambda: recorder.count == 10 * STREAMS, timeout=30)
            server.stop()
            writing = asyncio.ensure_future(write(range(10, 20)))
            await asyncio.sleep(OUTAGE)
            await writing
            assert recorder.count == 10 * STREAMS  # nothing got through meanwhile
            server.start()
            await write(range(20, ROUNDS))
            await wait_until(lambda: recorder.count == ROUNDS * STREAMS, timeout=60, step=0.1)
            await relay.wait_for(await store.head_position(), timeout=30)
        recorder.check_in_order_once({f"order-{s}": ROUNDS for s in range(STREAMS)})
        assert relay.status.failures >= 1
    finally:
        await broker.close()
        await state.close()
        await store.close()
        server.stop()
