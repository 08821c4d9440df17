"""A member's one ``XREADGROUP`` for all of its partitions on Redis (``redis_group.py``): the
keys it reads, backpressure per partition, partitions joining and leaving while it blocks,
acks of several partitions at once, and cancellation, on the real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from factstream.streaming.brokers.base import BrokerUnavailable
from factstream.streaming.brokers.redis_wire import XADD_MANY, script_call
from factstream.testing.contracts.broker import collect_deliveries, numbers, outbound
from tests.unit.streaming.helpers import wait_until

from .streaming_support import open_test_broker

redis = pytest.importorskip("redis")


@pytest.fixture
async def broker() -> AsyncIterator[Any]:
    broker = await open_test_broker("redis", partitions=4)
    await broker.setup()
    try:
        yield broker
    finally:
        await broker.destroy()
        await broker.close()


async def publish(broker: Any, *messages: Any) -> None:
    futures = [await broker.publish(m) for m in messages]
    await asyncio.wait_for(asyncio.gather(*futures), 10)


async def pending(broker: Any, partition: int, member: str) -> int:
    """Entries of ``partition`` delivered to ``member`` of group ``g`` and not acked."""
    found = await broker._redis.xpending_range(
        broker.key(partition), "g", min="-", max="+", count=1000, consumername=member
    )
    return len(found)


async def test_one_call_reads_every_partition_of_the_member(broker: Any) -> None:
    consumers = [await broker.consumer("g", p, max_in_flight=10, member="m1") for p in range(4)]
    reader = broker._members["g", "m1"]
    fetches = [asyncio.ensure_future(c.fetch(10, timeout=5.0)) for c in consumers]
    keys = {broker.key(p).encode() for p in range(4)}
    await wait_until(lambda: reader.reading == keys)  # blocked on all four keys at once
    await publish(broker, outbound(1, 2), outbound(2, 2))
    assert numbers(await asyncio.wait_for(fetches[2], 5)) == [1, 2]
    assert not any(f.done() for i, f in enumerate(fetches) if i != 2)
    for fetch in fetches:
        fetch.cancel()
    for consumer in consumers:
        await consumer.close()


async def test_a_partition_whose_reader_is_full_is_not_read_while_the_others_are(
    broker: Any,
) -> None:
    await publish(
        broker, *(outbound(n, 0) for n in range(40)), *(outbound(n, 1) for n in range(30))
    )
    slow = await broker.consumer("g", 0, max_in_flight=4, member="m1")
    fast = await broker.consumer("g", 1, max_in_flight=4, member="m1")
    held = await slow.fetch(4, timeout=1.0)  # never acked
    assert numbers(await collect_deliveries(fast, 30)) == list(range(30))
    # The slow partition holds what it was handed; what the member read for it is bounded.
    assert numbers(held) == list(range(len(held)))
    assert await pending(broker, 0, "m1") <= 4
    await slow.ack(held)
    rest = await collect_deliveries(slow, 40 - len(held))
    assert numbers(held + rest) == list(range(40))
    await slow.close()
    await fast.close()


async def test_a_partition_joining_while_the_reader_blocks_is_read_at_once(broker: Any) -> None:
    first = await broker.consumer("g", 0, max_in_flight=10, member="m1")
    reader = broker._members["g", "m1"]
    waiting = asyncio.ensure_future(first.fetch(10, timeout=10.0))
    await wait_until(lambda: reader.reading == {broker.key(0).encode()})
    await publish(broker, outbound(7, 1))
    joined = await broker.consumer("g", 1, max_in_flight=10, member="m1")
    # The call under way blocks for 2 s without key 1: it is interrupted to read it.
    assert numbers(await joined.fetch(10, timeout=1.5)) == [7]
    assert not waiting.done()
    waiting.cancel()
    await first.close()
    await joined.close()


async def test_a_closed_partition_is_no_longer_read_and_its_next_owner_gets_every_entry(
    broker: Any,
) -> None:
    await publish(broker, *(outbound(n, 1) for n in range(10)))
    other = await broker.consumer("g", 0, max_in_flight=10, member="m1")
    leaving = await broker.consumer("g", 1, max_in_flight=10, member="m1")
    reader = broker._members["g", "m1"]
    handed = await leaving.fetch(3, timeout=1.0)  # more were read ahead into its buffer
    assert numbers(handed) == [0, 1, 2]
    waiting = asyncio.ensure_future(other.fetch(10, timeout=10.0))
    await leaving.close()
    assert broker.key(1).encode() not in reader.reading
    await publish(broker, outbound(10, 1))
    await asyncio.sleep(0.2)  # a read of key 1 by m1 would have taken it by now
    newest = (await broker._redis.xrevrange(broker.key(1), count=1))[0][0]
    read_by_m1 = await pending_ids(broker, 1, "m1")
    assert len(read_by_m1) >= 3
    assert newest not in read_by_m1
    # The old reader acks nothing after it closed: the next owner decides.
    await leaving.ack(handed)
    heir = await broker.consumer("g", 1, max_in_flight=10, member="m2")
    got = await collect_deliveries(heir, 11)
    assert numbers(got) == list(range(11))
    assert [d.delivery_count > 1 for d in got[:3]] == [True] * 3
    assert await pending(broker, 1, "m1") == 0
    waiting.cancel()
    await other.close()
    await heir.close()


async def pending_ids(broker: Any, partition: int, member: str) -> list[bytes]:
    found = await broker._redis.xpending_range(
        broker.key(partition), "g", min="-", max="+", count=1000, consumername=member
    )
    return [f["message_id"] for f in found]


async def test_acks_of_several_partitions_at_once_are_all_recorded(broker: Any) -> None:
    await publish(broker, *(outbound(n, p) for p in range(4) for n in range(20)))
    consumers = [await broker.consumer("g", p, max_in_flight=20, member="m1") for p in range(4)]
    batches = [await collect_deliveries(c, 20, ack=False) for c in consumers]
    assert [numbers(b) for b in batches] == [list(range(20))] * 4
    await asyncio.gather(*(c.ack(b) for c, b in zip(consumers, batches, strict=True)))
    assert [await pending(broker, p, "m1") for p in range(4)] == [0, 0, 0, 0]
    assert [await c.lag() for c in consumers] == [0, 0, 0, 0]
    for consumer in consumers:
        await consumer.close()


async def test_a_fetch_blocked_on_redis_ends_when_cancelled(broker: Any) -> None:
    consumer = await broker.consumer("g", 0, max_in_flight=10, member="m1")
    reader = broker._members["g", "m1"]
    fetch = asyncio.ensure_future(consumer.fetch(10, timeout=30.0))
    await wait_until(lambda: bool(reader.reading))
    fetch.cancel()
    done, _ = await asyncio.wait((fetch,), timeout=5.0)
    assert done
    assert fetch.cancelled()
    await consumer.close()
    await wait_until(lambda: not reader.reading)


async def test_a_batch_written_behind_a_failed_one_stores_nothing() -> None:
    broker: Any = await open_test_broker("redis", partitions=2, batch_size=2)
    try:
        await broker._redis.set(broker.key(1), "not a stream")  # XADD answers WRONGTYPE
        # Two batches handed over before the sender runs: it writes the second before it
        # reads the first one's reply.
        first = [await broker.publish(outbound(n, 1)) for n in range(2)]
        second = [await broker.publish(outbound(n, 0)) for n in range(2)]
        for future in (first[0], second[0]):
            with pytest.raises(BrokerUnavailable, match="WRONGTYPE"):
                await asyncio.wait_for(future, 5)
        assert await broker._redis.xlen(broker.key(0)) == 0
    finally:
        await broker.destroy()
        await broker.close()


async def test_the_batch_script_refuses_a_batch_once_its_sender_s_fence_is_up(
    broker: Any,
) -> None:
    client = broker._redis
    sha = (await client.script_load(XADD_MANY)).encode()
    fence = broker._fence
    await client.set(fence, b"t1")
    entries = [(broker.key(0).encode(), b"data", b"")]
    with pytest.raises(redis.exceptions.ResponseError, match="FENCED"):
        await client.execute_command(*_args(script_call(sha, fence, b"t1", entries, 0)))
    # Another sender (a new token) writes.
    assert await client.execute_command(*_args(script_call(sha, fence, b"t2", entries, 0))) == 1
    assert await client.xlen(broker.key(0)) == 1


def _args(packed: bytes) -> list[bytes]:
    """The arguments of one packed command (what the server reads)."""
    lines = packed.split(b"\r\n")
    return [lines[i] for i in range(2, len(lines) - 1, 2)]
