"""Fixtures' building blocks for the streaming tests against real brokers."""

from __future__ import annotations

import uuid

from factstream.streaming import Broker
from tests.services import require

BROKERS = ["nats", "redis"]


async def open_test_broker(kind: str, partitions: int, **options: object) -> Broker:
    """A broker on the shared server with a unique prefix (destroy it after)."""
    prefix = f"fstest{uuid.uuid4().hex[:10]}"
    if kind == "nats":
        require("NATS", "127.0.0.1", 4222)
        from factstream.streaming.brokers.nats import NatsBroker

        return await NatsBroker.open(
            "nats://127.0.0.1:4222", prefix=prefix, partitions=partitions, **options
        )
    require("Redis", "127.0.0.1", 6379)
    from factstream.streaming.brokers.redis import RedisStreamsBroker

    return await RedisStreamsBroker.open(
        "redis://127.0.0.1:6379/0", prefix=prefix, partitions=partitions, **options
    )
