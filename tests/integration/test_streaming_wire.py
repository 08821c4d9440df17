"""The adapters' own publish and fetch paths, where they fail, on the real servers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from factstream.streaming import BrokerUnavailable
from factstream.testing.contracts.broker import outbound
from tests.services import require

from .streaming_support import open_test_broker

pytest.importorskip("nats")

from nats.aio.client import Client


@pytest.fixture
async def nats_client() -> AsyncIterator[Client]:
    require("NATS", "127.0.0.1", 4222)
    from factstream.streaming.brokers.nats_wire import FastHeadersClient

    client = FastHeadersClient()
    await client.connect("nats://127.0.0.1:4222")
    try:
        yield client
    finally:
        await client.close()


def subject_prefix() -> str:
    return f"fstest{uuid.uuid4().hex[:10]}"


async def test_a_publish_no_stream_takes_fails_its_future(nats_client: Client) -> None:
    from factstream.streaming.brokers.nats_wire import AckedPublisher, PublishRejected

    publisher = AckedPublisher(nats_client, max_pending=8, stall_timeout=5)
    future = await publisher.publish(f"{subject_prefix()}.nowhere", "id-1", {"a": "b"}, b"{}")
    with pytest.raises(PublishRejected, match="no JetStream stream"):
        await asyncio.wait_for(future, 5)
    assert publisher.pending == 0


async def test_a_publish_jetstream_refuses_fails_with_its_error(nats_client: Client) -> None:
    from nats.js.api import DiscardPolicy, StreamConfig

    from factstream.streaming.brokers.nats_wire import AckedPublisher, PublishRejected

    prefix = subject_prefix()
    js = nats_client.jetstream()
    name = prefix.upper()
    config = StreamConfig(
        name=name, subjects=[f"{prefix}.>"], max_msgs=1, discard=DiscardPolicy.NEW
    )
    await js.add_stream(config)
    try:
        publisher = AckedPublisher(nats_client, max_pending=8, stall_timeout=5)
        first = await publisher.publish(f"{prefix}.x", "id-1", {}, b"{}")
        second = await publisher.publish(f"{prefix}.x", "id-2", {}, b"{}")
        await asyncio.wait_for(first, 5)
        assert first.exception() is None
        with pytest.raises(PublishRejected, match="refused"):
            await asyncio.wait_for(second, 5)
    finally:
        await js.delete_stream(name)


async def test_publishes_stall_at_the_bound_then_give_up(nats_client: Client) -> None:
    from factstream.streaming.brokers.nats_wire import AckedPublisher

    subject = f"{subject_prefix()}.silent"
    # Someone listens (so no "no responders"), nobody answers: acks never come.
    silent = await nats_client.subscribe(subject)
    publisher = AckedPublisher(nats_client, max_pending=2, stall_timeout=0.3)
    futures = [await publisher.publish(subject, f"id-{n}", {}, b"{}") for n in range(2)]
    with pytest.raises(BrokerUnavailable, match="acknowledged nothing"):
        await publisher.publish(subject, "id-3", {}, b"{}")
    publisher.cancel_pending()
    assert all(f.cancelled() for f in futures)
    assert publisher.pending == 0
    # Room again: the next publish goes out at once.
    later = await asyncio.wait_for(publisher.publish(subject, "id-4", {}, b"{}"), 1)
    assert not later.done()
    await silent.unsubscribe()


async def test_a_header_name_nats_cannot_carry_is_refused_before_sending(
    nats_client: Client,
) -> None:
    from factstream.streaming.brokers.nats_wire import AckedPublisher

    publisher = AckedPublisher(nats_client, max_pending=8, stall_timeout=5)
    for name in ("has space", "colon:", ""):
        with pytest.raises(ValueError, match="cannot be a NATS header name"):
            await publisher.publish(f"{subject_prefix()}.x", "id", {name: "v"}, b"{}")
    assert publisher.pending == 0


async def test_a_publish_on_a_closed_connection_fails_at_once() -> None:
    require("NATS", "127.0.0.1", 4222)
    broker = await open_test_broker("nats", partitions=1)
    await broker.setup()
    await broker.destroy()
    await broker.close()
    with pytest.raises(BrokerUnavailable, match="closed"):
        await broker.publish(outbound(1))


async def test_a_fetch_that_ends_early_leaves_nothing_behind() -> None:
    """Messages a pull request delivers after its fetch gave up come with the next fetch,
    in order, and an empty consumer answers within about the timeout."""
    broker = await open_test_broker("nats", partitions=1)
    try:
        await broker.setup()
        consumer = await broker.consumer("g", 0, max_in_flight=100, member="m")
        assert await consumer.fetch(10, timeout=0.2) == []
        futures = [await broker.publish(outbound(n)) for n in range(30)]
        await asyncio.wait_for(asyncio.gather(*futures), 10)
        got: list[int] = []
        for _ in range(40):
            batch = await consumer.fetch(7, timeout=0.5)
            await consumer.ack(batch)
            got.extend(int(d.headers["n"]) for d in batch)
            if len(got) >= 30:
                break
        assert got == list(range(30))
        assert await consumer.lag() == 0
        await consumer.close()
    finally:
        await broker.destroy()
        await broker.close()


async def test_a_redis_batch_that_fails_fails_every_publish_until_reset() -> None:
    pytest.importorskip("redis")
    broker = await open_test_broker("redis", partitions=1)
    client = broker._redis  # type: ignore[attr-defined]
    key = broker.key(0)  # type: ignore[attr-defined]
    try:
        await client.set(key, "not a stream")  # XADD answers WRONGTYPE
        future = await broker.publish(outbound(1))
        with pytest.raises(BrokerUnavailable, match="WRONGTYPE"):
            await asyncio.wait_for(future, 5)
        with pytest.raises(BrokerUnavailable, match="WRONGTYPE"):
            await broker.publish(outbound(2))  # nothing goes out after a failed batch
        await client.delete(key)
        broker.cancel_pending()  # what the relay does before resending
        future = await broker.publish(outbound(3))
        assert await asyncio.wait_for(future, 5) is None
        assert await client.xlen(key) == 1
    finally:
        await broker.destroy()
        await broker.close()


async def test_redis_trims_partitions_to_maxlen_when_asked() -> None:
    pytest.importorskip("redis")
    broker = await open_test_broker("redis", partitions=1, maxlen=100, batch_size=50)
    try:
        futures = [await broker.publish(outbound(n)) for n in range(1000)]
        await asyncio.wait_for(asyncio.gather(*futures), 10)
        length = await broker._redis.xlen(broker.key(0))  # type: ignore[attr-defined]
        assert 100 <= length < 1000  # "~": trimmed by whole nodes, never below MAXLEN
    finally:
        await broker.destroy()
        await broker.close()


@pytest.mark.parametrize("prefix", ["has space", "a..b", "a.*", "", "x.>"])
async def test_a_nats_prefix_that_is_no_subject_is_refused(
    nats_client: Client, prefix: str
) -> None:
    from factstream.streaming.brokers.nats import NatsBroker

    with pytest.raises(ValueError, match="prefix must be"):
        NatsBroker(nats_client, prefix=prefix)


def test_a_client_without_the_internals_written_through_is_refused() -> None:
    from factstream.streaming.brokers.nats import NatsBroker

    class Bare:
        def jetstream(self, **options: object) -> None:  # pragma: no cover - never reached
            return None

    with pytest.raises(TypeError, match="_send_command"):
        NatsBroker(Bare())  # type: ignore[arg-type]


async def test_a_redis_batch_left_while_the_queue_was_full_goes_out_after_all() -> None:
    """The last, partial batch found the queue of batches full when its flush ran (and no
    publish followed to flush it again): the sender sends it once a slot is free."""
    pytest.importorskip("redis")
    broker = await open_test_broker("redis", partitions=1, batch_size=2, max_pending=2)
    try:
        # Three publishes without yielding: [1, 2] fills the one-batch queue, [3] waits.
        futures = [await broker.publish(outbound(n)) for n in range(3)]
        await asyncio.wait_for(asyncio.gather(*futures), 10)
        assert await broker._redis.xlen(broker.key(0)) == 3  # type: ignore[attr-defined]
    finally:
        await broker.destroy()
        await broker.close()


async def test_redis_acknowledges_a_batch_s_messages_together() -> None:
    """A batch is one atomic script call: once one of its messages is acknowledged, all are."""
    pytest.importorskip("redis")
    broker = await open_test_broker("redis", partitions=2, batch_size=64)
    try:
        futures = [await broker.publish(outbound(n, partition=n % 2)) for n in range(5)]
        await asyncio.wait_for(futures[0], 10)
        assert all(f.done() and f.exception() is None for f in futures)
        lengths = [await broker._redis.xlen(broker.key(p)) for p in range(2)]  # type: ignore[attr-defined]
        assert lengths == [3, 2]
    finally:
        await broker.destroy()
        await broker.close()
