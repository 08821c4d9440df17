"""Fixtures' building blocks for the streaming tests against real brokers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable

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


@contextlib.asynccontextmanager
async def running(*runs: Awaitable[None]) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Run coroutines as tasks; cancel and await them on the way out."""
    started = [asyncio.ensure_future(run) for run in runs]
    try:
        yield started
    finally:
        for task in started:
            task.cancel()
        for task in started:
            with contextlib.suppress(asyncio.CancelledError):
                await task
