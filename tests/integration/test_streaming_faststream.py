"""A plain FastStream subscriber (no factstream code) reads the relay's messages."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from typing import Any

import pytest

from factstream import NewEvent
from factstream.store.sqlite import SqliteEventStore
from factstream.streaming import Relay, open_streaming_state
from tests.unit.streaming.helpers import running, wait_until

from .streaming_support import open_test_broker
from .test_streaming_e2e import RELAY

faststream = pytest.importorskip("faststream")


async def relay_events(tmp_path: pathlib.Path, broker: Any) -> list[str]:
    store = await SqliteEventStore.open(tmp_path / "events.db")
    state = await open_streaming_state(f"sqlite:///{tmp_path / 'events.db'}")
    ids = []
    for n in range(5):
        result = await store.append(
            "order-1",
            [NewEvent("OrderPlaced", {"n": n}, correlation_id=f"corr-{n}")],
        )
        ids.append(result)
    relay = Relay(store, broker, state, RELAY)
    async with running(relay.run()):
        await relay.wait_for(5, timeout=10)
    events = await store.read("order-1")
    await state.close()
    await store.close()
    return [str(e.id) for e in events]


@pytest.mark.parametrize("kind", ["nats", "redis"])
async def test_a_faststream_subscriber_reads_the_relay_s_messages(
    kind: str, tmp_path: pathlib.Path
) -> None:
    broker = await open_test_broker(kind, partitions=1)
    received: list[tuple[dict[str, Any], Any]] = []
    try:
        event_ids = await relay_events(tmp_path, broker)
        app_broker: Any
        if kind == "nats":
            from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
            from nats.js.api import DeliverPolicy

            app_broker = NatsBroker("nats://127.0.0.1:4222", logger=None)

            @app_broker.subscriber(  # type: ignore[untyped-decorator]
                f"{broker.prefix}.p0.>",  # type: ignore[attr-defined]
                stream=JStream(broker.stream, declare=False),  # type: ignore[attr-defined]
                durable="faststream-notifications",
                deliver_policy=DeliverPolicy.ALL,
                pull_sub=PullSub(batch_size=10),
            )
            async def on_nats(body: dict[str, Any], msg: NatsMessage) -> None:
                received.append((body, msg))

        else:
            from faststream.redis import RedisBroker, RedisStreamMessage, StreamSub

            app_broker = RedisBroker("redis://127.0.0.1:6379/0", logger=None)  # type: ignore[arg-type]

            @app_broker.subscriber(  # type: ignore[untyped-decorator]
                stream=StreamSub(
                    broker.key(0),  # type: ignore[attr-defined]
                    group="faststream-notifications",
                    consumer="c1",
                    last_id="0",
                )
            )
            async def on_redis(body: dict[str, Any], msg: RedisStreamMessage) -> None:
                received.append((body, msg))

        await app_broker.start()
        try:
            await wait_until(lambda: len(received) == 5, timeout=20)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(app_broker.stop(), 10)
        # FastStream's pull subscriber handles the messages of one fetch concurrently
        # (``start_soon`` per message), so they may finish in any order.
        received.sort(key=lambda item: int(item[0]["n"]))
        assert [body for body, _ in received] == [{"n": n} for n in range(5)]
        first = received[0][1]
        assert first.message_id == event_ids[0]
        assert first.correlation_id == "corr-0"
        assert first.content_type == "application/json"
        assert first.headers["ce-type"] == "OrderPlaced"
        assert first.headers["ce-specversion"] == "1.0"
        assert first.headers["ce-fsversion"] == "1"
    finally:
        await broker.destroy()
        await broker.close()
