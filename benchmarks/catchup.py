"""(g) Peak RSS while a slow subscriber catches up on a large log (factstream only).

The log is written by one process (appends of ``catchup_batch`` events); a fresh process then
opens the store, records its RSS, and subscribes from position 1. The subscriber is slow on
purpose: it yields to the event loop after every event and sleeps 1 ms every 500 events, while
a live appender adds 10 events every 10 ms (about 1,000 events/s) until the subscriber has
passed the first ``catchup_events``. It then reads on to the head. RSS comes from
/proc/self/status: ``VmRSS`` (now) and ``VmHWM`` (the peak since the process started).

With ``memory://`` the log lives in the measuring process itself, so it is written there first
and "RSS before" includes it; what matters is the growth during the catch-up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import factstream as fs

from .fs_side import write_log
from .payload import EVENT_TYPE, payload
from .procstats import status_kb
from .sizes import Sizes
from .targets import Target, store_bytes

Result = dict[str, Any]


async def _write(target: Target, sizes: Sizes) -> Result:
    async with fs.connect(target.factstream_url()) as store:
        start = time.perf_counter()
        await write_log(store, sizes.catchup_events, sizes.catchup_batch)
        elapsed = time.perf_counter() - start
    return {"events_per_s": sizes.catchup_events / elapsed, "seconds": elapsed}


async def _live_appends(store: fs.EventStore, stop: asyncio.Event) -> int:
    version = 0
    while not stop.is_set():
        batch = [fs.NewEvent(EVENT_TYPE, payload(version + j)) for j in range(10)]
        await store.append("live", batch, expected_version=version)
        version += 10
        await asyncio.sleep(0.01)
    return version


async def _catch_up(store: fs.EventStore, sizes: Sizes, rss_before: int) -> Result:
    stop = asyncio.Event()
    appender = asyncio.create_task(_live_appends(store, stop))
    samples: list[int] = []
    delivered = 0
    checksum = 0
    live = 0
    head = 0
    start = time.perf_counter()
    async with store.subscribe(from_position=1) as subscription:
        async for event in subscription:
            checksum += event.data["seq"]
            delivered += 1
            await asyncio.sleep(0)
            if delivered % 500 == 0:
                await asyncio.sleep(0.001)
            if delivered % 50_000 == 0:
                samples.append(status_kb("VmRSS"))
            if delivered == sizes.catchup_events:
                stop.set()
                live = await appender
                head = await store.head_position()
            if stop.is_set() and subscription.position >= head:
                break
    elapsed = time.perf_counter() - start
    return {
        "rss_before_kb": rss_before,
        "rss_peak_kb": status_kb("VmHWM"),
        "rss_after_kb": status_kb("VmRSS"),
        "rss_samples_kb": samples,
        "delivered": delivered,
        "live_appended": live,
        "seconds": elapsed,
        "events_per_s": delivered / elapsed,
        "checksum": checksum,
    }


async def _measure(target: Target, sizes: Sizes) -> Result:
    async with fs.connect(target.factstream_url()) as store:
        write: Result = {}
        if target.backend == "memory":
            start = time.perf_counter()
            await write_log(store, sizes.catchup_events, sizes.catchup_batch)
            write = {"write_events_per_s": sizes.catchup_events / (time.perf_counter() - start)}
        await store.head_position()
        result = await _catch_up(store, sizes, status_kb("VmRSS"))
    result.update(write)
    result["store_bytes"] = store_bytes(target)
    return result


def write(target: Target, sizes: Sizes) -> Result:
    return asyncio.run(_write(target, sizes))


def measure(target: Target, sizes: Sizes) -> Result:
    return asyncio.run(_measure(target, sizes))
