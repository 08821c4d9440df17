"""Quick throughput figures of the streaming layer against the raw client limits.

    PYTHONPATH=src:. python -m benchmarks.scripts.streaming [--events 20000]

Each line prints msgs/s; the raw figures use the same clients the adapters use, in the same
run, as the reference (on this machine the Python clients are the bottleneck).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from typing import Any

import msgspec
import nats
import redis.asyncio as aioredis

from factstream import NewEvent
from factstream.store.sqlite import SqliteEventStore
from factstream.streaming import (
    ConsumerGroup,
    GroupSettings,
    Relay,
    RelaySettings,
    open_streaming_state,
)
from factstream.streaming.brokers.nats import NatsBroker
from factstream.streaming.brokers.redis import RedisStreamsBroker

BODY = msgspec.json.encode(
    {"customer": "ada", "sku": "tea-0001", "qty": 2, "price": 4.5, "note": "x" * 120}
)


async def raw_nats_publish(n: int) -> float:
    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream(publish_async_max_pending=1024)
    name = f"RAWB{uuid.uuid4().hex[:8]}".upper()
    await js.add_stream(name=name, subjects=[f"{name}.>"])
    began = time.perf_counter()
    futures = []
    for i in range(n):
        futures.append(await js.publish_async(f"{name}.x", BODY, headers={"Nats-Msg-Id": str(i)}))
    await asyncio.gather(*futures)
    rate = n / (time.perf_counter() - began)
    headers = {f"ce-header{i}": "v" * 30 for i in range(15)}
    began = time.perf_counter()
    futures = []
    for i in range(n):
        hdrs = {**headers, "Nats-Msg-Id": f"h{i}"}
        futures.append(await js.publish_async(f"{name}.y", BODY, headers=hdrs))
    await asyncio.gather(*futures)
    rate16 = n / (time.perf_counter() - began)
    print(f"raw nats-py async publish with 16 headers (as relayed): {rate16:10,.0f} msgs/s")
    sub = await js.pull_subscribe(f"{name}.>", durable="raw", stream=name)
    got = 0
    n = 2 * n
    began = time.perf_counter()
    while got < n:
        msgs = await sub.fetch(256, timeout=2)
        for msg in msgs:
            await msg.ack()
        got += len(msgs)
    consume = n / (time.perf_counter() - began)
    await js.delete_stream(name)
    await nc.close()
    print(f"raw nats-py async publish + Nats-Msg-Id, <=1024 pending: {rate:10,.0f} msgs/s")
    print(f"raw nats-py pull fetch 256 + ack each:                  {consume:10,.0f} msgs/s")
    return rate


async def raw_redis(n: int) -> None:
    r = aioredis.Redis()
    key = f"rawb{uuid.uuid4().hex[:8]}"
    began = time.perf_counter()
    for _ in range(0, n, 100):
        async with r.pipeline(transaction=False) as pipe:
            for _ in range(100):
                pipe.xadd(key, {b"__data__": BODY})
            await pipe.execute()
    rate = n / (time.perf_counter() - began)
    await r.xgroup_create(key, "g", id="0")
    got = 0
    began = time.perf_counter()
    while got < n:
        reply: Any = await r.xreadgroup("g", "c", {key: ">"}, count=100)
        ids: list[bytes] = [entry_id for entry_id, _ in reply[0][1]]
        await r.xack(key, "g", *ids)
        got += len(ids)
    consume = n / (time.perf_counter() - began)
    await r.delete(key)
    await r.aclose()
    print(f"raw redis.asyncio XADD pipelined by 100:                {rate:10,.0f} msgs/s")
    print(f"raw redis.asyncio XREADGROUP 100 + XACK:                {consume:10,.0f} msgs/s")


async def filled_store(folder: str, n: int) -> SqliteEventStore:
    store = await SqliteEventStore.open(os.path.join(folder, "events.db"), synchronous="NORMAL")
    data = msgspec.json.decode(BODY)
    for start in range(0, n, 1000):
        await asyncio.gather(
            *(
                store.append(
                    f"order-{(start + i) // 10}", [NewEvent("ItemAdded", data) for _ in range(10)]
                )
                for i in range(0, 1000, 10)
            )
        )
    return store


async def relay_and_group(kind: str, n: int, members: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = await filled_store(folder, n)
        state = await open_streaming_state(f"sqlite:///{os.path.join(folder, 'events.db')}")
        prefix = f"benchfs{uuid.uuid4().hex[:8]}"
        broker = (
            await NatsBroker.open(prefix=prefix, partitions=8)
            if kind == "nats"
            else await RedisStreamsBroker.open(prefix=prefix, partitions=8)
        )
        relay = Relay(store, broker, state, RelaySettings(checkpoint_every=5000))
        began = time.perf_counter()
        task = asyncio.create_task(relay.run())
        await relay.wait_for(n, timeout=300)
        relay_rate = n / (time.perf_counter() - began)
        task.cancel()
        print(f"relay -> {kind:5}  (SQLite log, 8 partitions):        {relay_rate:10,.0f} msgs/s")
        count = 0

        async def handler(event: object) -> None:
            nonlocal count
            count += 1

        settings = GroupSettings(max_in_flight=256, fetch_timeout=0.5, lease_ttl=3.0)
        groups = [
            ConsumerGroup("bench", broker, store, state, handler, settings) for _ in range(members)
        ]
        began = time.perf_counter()
        tasks = [asyncio.create_task(g.run()) for g in groups]
        for _ in range(6000):  # at most 5 minutes
            if count >= n:
                break
            await asyncio.sleep(0.05)
        group_rate = n / (time.perf_counter() - began)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        label = f"consumer group on {kind} ({members} member, 1 process):"
        print(f"{label:56}{group_rate:10,.0f} msgs/s")
        await broker.destroy()
        await broker.close()
        await state.close()
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    n = args.events
    await raw_nats_publish(n)
    await raw_redis(n)
    await relay_and_group("nats", n, 1)
    await relay_and_group("redis", n, 1)


if __name__ == "__main__":
    asyncio.run(main())
