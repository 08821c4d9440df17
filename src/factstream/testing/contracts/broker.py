"""The broker contract: what every broker adapter guarantees to the relay and consumer groups."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ...streaming.brokers.base import Broker, Delivery, OutboundMessage, PartitionConsumer

__all__ = ["BrokerContract", "BrokerHarness", "collect_deliveries", "outbound"]


class BrokerHarness(abc.ABC):
    """Opens brokers on a fresh prefix (streams, keys) per test.

    Attributes:
        name: the backend's name, for test ids.
    """

    name: str = "?"

    @abc.abstractmethod
    async def open(self, partitions: int = 4, **options: Any) -> Broker:
        """A broker on this harness's prefix. Callers close what they open."""

    async def cleanup(self) -> None:
        """Delete what the test left on the broker."""


def outbound(
    n: int, partition: int = 0, key: str | None = None, msg_id: str | None = None
) -> OutboundMessage:
    """A test message numbered ``n``."""
    stream = key or f"thing-{partition}"
    return OutboundMessage(
        partition=partition,
        category="thing",
        key=stream,
        msg_id=msg_id or f"id-{partition}-{n}",
        headers={
            "ce-id": f"id-{partition}-{n}",
            "n": str(n),
            "message_id": msg_id or f"id-{partition}-{n}",
        },
        body=b'{"n": %d}' % n,
    )


async def collect_deliveries(
    consumer: PartitionConsumer,
    count: int,
    *,
    ack: bool = True,
    rounds: int = 50,
    timeout: float = 1.0,
) -> list[Delivery]:
    """Fetch until ``count`` messages came (at most ``rounds`` fetches of ``timeout`` each)."""
    got: list[Delivery] = []
    for _ in range(rounds):
        if len(got) >= count:
            break
        batch = await consumer.fetch(count - len(got), timeout=timeout)
        if ack and batch:
            await consumer.ack(batch)
        got.extend(batch)
    return got


def numbers(deliveries: list[Delivery]) -> list[int]:
    return [int(d.headers["n"]) for d in deliveries]


class BrokerContract:
    """Subclass with a ``broker_harness`` fixture yielding a :class:`BrokerHarness`."""

    @pytest.fixture
    async def broker(self, broker_harness: BrokerHarness) -> AsyncIterator[Broker]:
        broker = await broker_harness.open(partitions=4)
        try:
            await broker.setup()
            yield broker
        finally:
            await broker.close()

    async def publish(self, broker: Broker, *messages: OutboundMessage) -> None:
        futures = [await broker.publish(m) for m in messages]
        await asyncio.wait_for(asyncio.gather(*futures), 10)

    async def test_setup_reports_a_fresh_broker_once(self, broker_harness: BrokerHarness) -> None:
        broker = await broker_harness.open(partitions=2)
        try:
            assert await broker.setup() is True
            await self.publish(broker, outbound(1))
            assert await broker.setup() is False
        finally:
            await broker.close()

    async def test_messages_arrive_in_order_with_headers_and_body(self, broker: Broker) -> None:
        await self.publish(broker, *(outbound(n) for n in range(1, 51)))
        consumer = await broker.consumer("g", 0, max_in_flight=100, member="m1")
        got = await collect_deliveries(consumer, 50)
        assert numbers(got) == list(range(1, 51))
        first = got[0]
        assert first.body == b'{"n": 1}'
        assert first.headers["ce-id"] == "id-0-1"
        assert first.msg_id == "id-0-1"
        assert first.partition == 0
        assert first.delivery_count == 1
        await consumer.close()

    async def test_partitions_are_separate(self, broker: Broker) -> None:
        await self.publish(broker, outbound(1, 0), outbound(2, 1), outbound(3, 0), outbound(4, 3))
        counts = {}
        for partition in range(4):
            consumer = await broker.consumer("g", partition, max_in_flight=10, member="m1")
            counts[partition] = numbers(
                await collect_deliveries(consumer, 2, rounds=2, timeout=0.3)
            )
            await consumer.close()
        assert counts == {0: [1, 3], 1: [2], 2: [], 3: [4]}

    async def test_groups_read_independently(self, broker: Broker) -> None:
        await self.publish(broker, *(outbound(n) for n in range(3)))
        for group in ("a", "b"):
            consumer = await broker.consumer(group, 0, max_in_flight=10, member="m1")
            assert numbers(await collect_deliveries(consumer, 3)) == [0, 1, 2]
            await consumer.close()

    async def test_acknowledged_messages_are_not_delivered_again(self, broker: Broker) -> None:
        await self.publish(broker, *(outbound(n) for n in range(3)))
        first = await broker.consumer("g", 0, max_in_flight=10, member="m1")
        assert len(await collect_deliveries(first, 3)) == 3
        await first.close()
        await self.publish(broker, outbound(3))
        second = await broker.consumer("g", 0, max_in_flight=10, member="m2")
        assert numbers(await collect_deliveries(second, 2, rounds=3, timeout=0.3)) == [3]
        await second.close()

    async def test_a_new_reader_gets_unacknowledged_messages_first_in_order(
        self, broker: Broker
    ) -> None:
        await self.publish(broker, *(outbound(n) for n in range(6)))
        dead = await broker.consumer("g", 0, max_in_flight=10, member="m1")
        got = await collect_deliveries(dead, 4, ack=False)
        assert numbers(got) == [0, 1, 2, 3]
        await dead.ack(got[:2])
        # The first reader dies without closing; the next takes the partition over.
        heir = await broker.consumer("g", 0, max_in_flight=10, member="m2")
        again = await collect_deliveries(heir, 4)
        assert numbers(again) == [2, 3, 4, 5]
        assert again[0].delivery_count >= 1
        await heir.close()

    async def test_nak_delivers_again(self, broker: Broker) -> None:
        # Only the set is promised: JetStream applies a nak asynchronously, so a fetch sent
        # right after it may get later messages first. (After a takeover the order holds.)
        await self.publish(broker, *(outbound(n) for n in range(5)))
        consumer = await broker.consumer("g", 0, max_in_flight=10, member="m1")
        got = await collect_deliveries(consumer, 3, ack=False)
        await consumer.ack(got[:1])
        await consumer.nak(got[1:])
        again = await collect_deliveries(consumer, 4)
        assert sorted(numbers(again)) == [1, 2, 3, 4]
        counts = {int(d.headers["n"]): d.delivery_count for d in again}
        assert counts == {1: 2, 2: 2, 3: 1, 4: 1}
        await consumer.close()

    async def test_in_flight_messages_are_bounded(self, broker: Broker) -> None:
        await self.publish(broker, *(outbound(n) for n in range(10)))
        consumer = await broker.consumer("g", 0, max_in_flight=3, member="m1")
        first = await consumer.fetch(10, timeout=1.0)
        assert 1 <= len(first) <= 3
        held = list(first)
        for _ in range(3):
            held += await consumer.fetch(10, timeout=0.2)
        assert len(held) == 3
        await consumer.ack(held)
        assert numbers(await collect_deliveries(consumer, 7)) == [3, 4, 5, 6, 7, 8, 9]
        await consumer.close()

    async def test_lag_counts_what_the_group_has_not_acknowledged(self, broker: Broker) -> None:
        await self.publish(broker, *(outbound(n) for n in range(5)))
        consumer = await broker.consumer("g", 0, max_in_flight=10, member="m1")
        assert await consumer.lag() == 5
        got = await collect_deliveries(consumer, 2, ack=False)
        await consumer.ack(got[:2])
        assert await consumer.lag() == 3
        await consumer.close()

    async def test_dead_letters_are_kept_with_error_and_count_until_deleted(
        self, broker: Broker
    ) -> None:
        await self.publish(broker, outbound(1), outbound(2))
        consumer = await broker.consumer("g", 0, max_in_flight=10, member="m1")
        got = await collect_deliveries(consumer, 2)
        for delivery in got:
            await broker.dead_letter("g", delivery, "ValueError('boom')", 3)
        letters = await broker.dead_letters("g")
        assert [letter.headers["n"] for letter in letters] == ["1", "2"]
        assert letters[0].error == "ValueError('boom')"
        assert letters[0].delivery_count == 3
        assert letters[0].msg_id == "id-0-1"
        assert letters[0].body == b'{"n": 1}'
        assert letters[0].partition == 0
        assert await broker.dead_letters("other") == []
        await broker.delete_dead_letter("g", letters[0].id)
        assert [letter.headers["n"] for letter in await broker.dead_letters("g")] == ["2"]
        await consumer.close()

    async def test_a_repeated_msg_id_is_dropped_only_by_deduplicating_brokers(
        self, broker: Broker
    ) -> None:
        await self.publish(broker, outbound(1), outbound(1), outbound(2))
        consumer = await broker.consumer("g", 0, max_in_flight=10, member="m1")
        got = numbers(await collect_deliveries(consumer, 3, rounds=3, timeout=0.3))
        assert got == ([1, 2] if broker.deduplicates else [1, 1, 2])
        await consumer.close()
