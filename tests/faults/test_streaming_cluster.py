"""A 3-node NATS cluster (started here, own ports) with an R3 stream loses a node mid-run."""

from __future__ import annotations

import asyncio
import pathlib
import signal

import pytest

from factstream import NewEvent
from factstream.store.sqlite import SqliteEventStore
from factstream.streaming import BrokerUnavailable, ConsumerGroup, Relay, open_streaming_state
from factstream.streaming.brokers.nats import NatsBroker
from tests.integration.test_streaming_e2e import GROUP, RELAY
from tests.unit.streaming.helpers import Recorder, running, wait_until

from .streaming_servers import Server, free_port, nats_server

STREAMS, ROUNDS = 20, 30


def start_cluster(folder: pathlib.Path) -> list[Server]:
    cluster_ports = [free_port() for _ in range(3)]
    routes = ",".join(f"nats://127.0.0.1:{port}" for port in cluster_ports)
    servers = [
        nats_server(folder, f"n{i}", cluster_port=cluster_ports[i], routes=routes) for i in range(3)
    ]
    for server in servers:
        server.start()
    return servers


async def ready_broker(servers: list[Server]) -> NatsBroker:
    urls = [f"nats://127.0.0.1:{server.port}" for server in servers]
    broker = await NatsBroker.open(urls, partitions=3, replicas=3, api_timeout=2.0)
    # The cluster elects its JetStream meta leader a few seconds after starting.
    for _ in range(60):
        try:
            await broker.setup()
            return broker
        except BrokerUnavailable:
            await asyncio.sleep(0.5)
    raise AssertionError("the NATS cluster did not get ready within 30 s")


@pytest.mark.slow
async def test_an_r3_stream_loses_a_node_and_nothing_is_lost(tmp_path: pathlib.Path) -> None:
    servers = start_cluster(tmp_path)
    store = await SqliteEventStore.open(tmp_path / "events.db")
    state = await open_streaming_state(f"sqlite:///{tmp_path / 'events.db'}")
    broker = await ready_broker(servers)
    recorder = Recorder()
    relay = Relay(store, broker, state, RELAY)
    group = ConsumerGroup("cluster", broker, store, state, recorder, GROUP)

    async def write(rounds: range) -> None:
        for version in rounds:
            for stream in range(STREAMS):
                await store.append(f"order-{stream}", [NewEvent("Happened", {"v": version})])
            await asyncio.sleep(0.02)

    try:
        async with running(relay.run(), group.run()):
            await write(range(1, 11))
            await wait_until(lambda: recorder.count == 10 * STREAMS, timeout=30)
            servers[0].stop(signal.SIGKILL)  # the node the client most likely talks to
            await write(range(11, ROUNDS + 1))
            await wait_until(lambda: recorder.count == ROUNDS * STREAMS, timeout=60, step=0.1)
        recorder.check_in_order_once({f"order-{s}": ROUNDS for s in range(STREAMS)})
    finally:
        await broker.close()
        await state.close()
        await store.close()
        for server in servers:
            server.stop()
