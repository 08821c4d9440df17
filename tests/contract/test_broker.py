"""The broker contract on every adapter: memory, NATS JetStream and Redis Streams."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from factstream.streaming.brokers.base import Broker
from factstream.streaming.brokers.memory import MemoryBroker
from factstream.testing.contracts import BrokerContract, BrokerHarness
from tests.services import require


class MemoryHarness(BrokerHarness):
    name = "memory"

    async def open(self, partitions: int = 4, **options: Any) -> Broker:
        return MemoryBroker(partitions)


class NatsHarness(BrokerHarness):
    name = "nats"

    def __init__(self) -> None:
        self.prefix = f"fstest{uuid.uuid4().hex[:10]}"

    async def open(self, partitions: int = 4, **options: Any) -> Broker:
        from factstream.streaming.brokers.nats import NatsBroker

        return await NatsBroker.open(
            "nats://127.0.0.1:4222", prefix=self.prefix, partitions=partitions, **options
        )

    async def cleanup(self) -> None:
        broker = await self.open()
        await broker.destroy()
        await broker.close()


class RedisHarness(BrokerHarness):
    name = "redis"

    def __init__(self) -> None:
        self.prefix = f"fstest{uuid.uuid4().hex[:10]}"

    async def open(self, partitions: int = 4, **options: Any) -> Broker:
        from factstream.streaming.brokers.redis import RedisStreamsBroker

        return await RedisStreamsBroker.open(
            "redis://127.0.0.1:6379/0", prefix=self.prefix, partitions=partitions, **options
        )

    async def cleanup(self) -> None:
        broker = await self.open()
        await broker.destroy()
        await broker.close()


@pytest.fixture(params=["memory", "nats", "redis"])
async def broker_harness(request: pytest.FixtureRequest) -> AsyncIterator[BrokerHarness]:
    harness: BrokerHarness
    if request.param == "nats":
        require("NATS", "127.0.0.1", 4222)
        harness = NatsHarness()
    elif request.param == "redis":
        require("Redis", "127.0.0.1", 6379)
        harness = RedisHarness()
    else:
        harness = MemoryHarness()
    yield harness
    await harness.cleanup()


class TestBroker(BrokerContract):
    pass
