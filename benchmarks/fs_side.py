"""factstream's side of scenarios (a), (b), (d) and (e), through its public API only."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import factstream as fs

from .payload import EVENT_TYPE, payload
from .sizes import Sizes
from .targets import Target
from .timing import latency_summary

Result = dict[str, Any]


async def _warm_up(store: fs.EventStore, sizes: Sizes) -> None:
    for i in range(sizes.warmup):
        await store.append("warmup", [fs.NewEvent(EVENT_TYPE, payload(i))], expected_version=i)


async def single_appends(store: fs.EventStore, sizes: Sizes) -> Result:
    """(a) One event per append, one stream, each append awaited before the next."""
    await _warm_up(store, sizes)
    n = sizes.single_appends
    stamps = [time.perf_counter()]
    for i in range(n):
        await store.append("order-1", [fs.NewEvent(EVENT_TYPE, payload(i))], expected_version=i)
        stamps.append(time.perf_counter())
    return {"events_per_s": n / (stamps[-1] - stamps[0]), "events": n, **latency_summary(stamps)}


async def batch_appends(store: fs.EventStore, sizes: Sizes) -> Result:
    """(b) ``batch_size`` events per append, one stream, sequential."""
    await _warm_up(store, sizes)
    size = sizes.batch_size
    appends = sizes.batch_events // size
    start = time.perf_counter()
    for i in range(appends):
        batch = [fs.NewEvent(EVENT_TYPE, payload(i * size + j)) for j in range(size)]
        await store.append("order-1", batch, expected_version=i * size)
    return {
        "events_per_s": appends * size / (time.perf_counter() - start),
        "events": appends * size,
    }


async def concurrent_new_streams(store: fs.EventStore, sizes: Sizes) -> Result:
    """(d) ``tasks`` asyncio tasks, each appending single events to new streams."""
    await _warm_up(store, sizes)
    per_task = sizes.new_streams // sizes.tasks

    async def task(t: int) -> None:
        for j in range(per_task):
            await store.append(
                f"order-{t}-{j}",
                [fs.NewEvent(EVENT_TYPE, payload(j))],
                expected_version=fs.NO_STREAM,
            )

    start = time.perf_counter()
    await asyncio.gather(*(task(t) for t in range(sizes.tasks)))
    n = per_task * sizes.tasks
    return {"events_per_s": n / (time.perf_counter() - start), "events": n}


async def write_log(store: fs.EventStore, events: int, batch: int) -> None:
    """Fill a store with ``events`` events in appends of ``batch`` (one stream per append)."""
    for i in range(events // batch):
        await store.append(
            f"order-{i}",
            [fs.NewEvent(EVENT_TYPE, payload(i * batch + j)) for j in range(batch)],
            expected_version=fs.NO_STREAM,
        )


async def read_all(store: fs.EventStore, sizes: Sizes) -> Result:
    """(e) ``read_all`` of the whole log, touching each event's decoded ``data``."""
    count = 0
    total = 0
    start = time.perf_counter()
    async for event in store.read_all():
        total += event.data["seq"]
        count += 1
    elapsed = time.perf_counter() - start
    return {"events_per_s": count / elapsed, "events": count, "checksum": total}


_SCENARIOS = {"a": single_appends, "b": batch_appends, "d": concurrent_new_streams, "e": read_all}


async def _measure(scenario: str, target: Target, sizes: Sizes, prepared: bool) -> Result:
    async with fs.connect(target.factstream_url()) as store:
        if scenario == "e" and not prepared:
            await write_log(store, sizes.read_events, sizes.read_batch)
        return await _SCENARIOS[scenario](store, sizes)


async def _prepare(target: Target, sizes: Sizes) -> Result:
    async with fs.connect(target.factstream_url()) as store:
        start = time.perf_counter()
        await write_log(store, sizes.read_events, sizes.read_batch)
        return {"events_per_s": sizes.read_events / (time.perf_counter() - start)}


def measure(scenario: str, target: Target, sizes: Sizes, prepared: bool = False) -> Result:
    return asyncio.run(_measure(scenario, target, sizes, prepared))


def prepare(target: Target, sizes: Sizes) -> Result:
    """Write the read scenario's log once; later runs only read it."""
    return asyncio.run(_prepare(target, sizes))


async def _probe(target: Target) -> None:
    async with fs.connect(target.factstream_url()) as store:
        await store.head_position()


def probe(target: Target) -> Result:
    """Open and close the store: tells the runner whether this backend exists yet."""
    asyncio.run(_probe(target))
    return {}
