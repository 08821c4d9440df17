"""(f) Subscription latency, append -> delivery, under a steady background append rate.

factstream only: eventsourcing 9.5 has no comparable asynchronous subscription on SQLite (its
SQLite recorder raises NotImplementedError for ``subscribe``; its PostgreSQL one is a blocking
iterator for process applications).

Each appended event carries ``t`` = ``time.perf_counter_ns()`` taken just before ``append`` is
called; the subscriber computes ``perf_counter_ns() - t`` when the event reaches it. On Linux
``perf_counter`` is CLOCK_MONOTONIC, one clock for every process, so the cross-process variant
(writer in a child process, subscriber here) measures the same thing. The latency therefore
includes the commit (and its fsync) as well as the delivery.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import factstream as fs

from .payload import EVENT_TYPE, payload
from .sizes import Sizes
from .targets import Target

Result = dict[str, Any]
#: Events at the start of each variant left out of the percentiles (connections warming up).
SKIP = 50


async def paced_appends(store: fs.EventStore, stream_id: str, rate: int, count: int) -> float:
    """Append ``count`` single events at ``rate`` per second; returns the rate achieved."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(count):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        data = payload(i)
        data["t"] = time.perf_counter_ns()
        await store.append(stream_id, [fs.NewEvent(EVENT_TYPE, data)], expected_version=i)
    return count / (loop.time() - start)


async def _collect(subscription: fs.Subscription, count: int, into: list[int]) -> None:
    async for event in subscription:
        into.append(time.perf_counter_ns() - event.data["t"])
        if len(into) == count:
            return


def summarize(latencies_ns: list[int], rate: float) -> Result:
    kept = sorted(latencies_ns[SKIP:]) or [0]
    n = len(kept)

    def ms(q: float) -> float:
        return kept[min(n - 1, round(q * (n - 1)))] / 1e6

    return {
        "p50_ms": ms(0.50),
        "p99_ms": ms(0.99),
        "max_ms": kept[-1] / 1e6,
        "events": n,
        "rate": rate,
    }


async def _same_process(target: Target, sizes: Sizes) -> Result:
    count = int(sizes.latency_rate * sizes.latency_seconds)
    latencies: list[int] = []
    async with fs.connect(target.factstream_url()) as store:
        head = await store.head_position()
        async with store.subscribe(from_position=head + 1) as subscription:
            reader = asyncio.create_task(_collect(subscription, count, latencies))
            await asyncio.sleep(0.2)  # let the subscription reach the live phase
            rate = await paced_appends(store, "ticker", sizes.latency_rate, count)
            await asyncio.wait_for(reader, timeout=60)
    return summarize(latencies, rate)


async def _cross_process(target: Target, sizes: Sizes) -> Result:
    count = int(sizes.latency_rate * sizes.latency_seconds)
    latencies: list[int] = []
    async with fs.connect(target.factstream_url()) as store:
        head = await store.head_position()
        async with store.subscribe(from_position=head + 1) as subscription:
            reader = asyncio.create_task(_collect(subscription, count, latencies))
            await asyncio.sleep(0.2)
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.latency_writer",
                target.factstream_url(),
                str(sizes.latency_rate),
                str(count),
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await child.communicate()
            if child.returncode != 0:
                reader.cancel()
                raise RuntimeError(f"latency writer failed with exit code {child.returncode}")
            await asyncio.wait_for(reader, timeout=60)
    return summarize(latencies, float(out.decode().strip() or 0))


def measure(variant: str, target: Target, sizes: Sizes) -> Result:
    """``variant``: ``same`` (writer and subscriber share a loop) or ``cross`` (processes)."""
    work = _same_process if variant == "same" else _cross_process
    return asyncio.run(work(target, sizes))
