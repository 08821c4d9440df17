"""A consumer group member in its own process: ``python -m benchmarks.stream_member JOB``.

Prints one JSON object per line on stdout: ``{"ready": true, ...}`` first, then progress
(``handled``, ``done``), and ``{"final": true, ...}`` after ``stop`` on stdin. Modes:

- ``latency``: records ``perf_counter_ns() - data["t"]`` per event; ready once it holds every
  partition; prints ``latencies_ns`` after ``count`` events.
- ``slow``: pauses 2 ms after every event (each partition reader: about 500 events/s, so
  some 4,000/s over 8 partitions, a tenth of the relay's rate); progress every 0.2 s.
- ``count``: handlers wait for ``go`` on stdin, then count; progress every 0.1 s.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import factstream as fs
from factstream.streaming import (
    ConsumerGroup,
    GroupSettings,
    open_broker,
    open_streaming_state,
)

from .procstats import status_kb


def say(**report: Any) -> None:
    print(json.dumps(report), flush=True)


_TASKS: set[asyncio.Task[None]] = set()


async def commands() -> asyncio.Queue[str]:
    """Lines from stdin, as they come (``stop`` at the end of the input)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def pump() -> None:
        while line := await reader.readline():
            await queue.put(line.decode().strip())
        await queue.put("stop")

    _TASKS.add(asyncio.create_task(pump()))
    return queue


async def run(job: dict[str, Any]) -> None:
    mode: str = job["mode"]
    count = int(job.get("count", 0))
    store = await fs.connect(job["store"])
    state = await open_streaming_state(job["state"])
    broker = await open_broker(job["broker"], prefix=job["prefix"], partitions=job["partitions"])
    inbox = await commands()
    go = asyncio.Event()
    if mode != "count":
        go.set()
    handled = 0
    latencies: list[int] = []
    reached = asyncio.Event()

    async def handler(event: fs.RecordedEvent) -> None:
        nonlocal handled
        if not go.is_set():
            await go.wait()
        if mode == "latency":
            latencies.append(time.perf_counter_ns() - int(event.data["t"]))
        handled += 1
        if mode == "slow":
            await asyncio.sleep(0.002)
        if count and handled >= count:
            reached.set()

    settle = float(job.get("settle", 3.0))
    group = ConsumerGroup(
        job["group"],
        broker,
        store,
        state,
        handler,
        GroupSettings(max_in_flight=256, fetch_timeout=0.2, lease_ttl=settle),
    )
    task = asyncio.create_task(group.run())
    if mode == "latency":
        for _ in range(1200):  # a minute at most
            if len(group.status.partitions) == job["partitions"]:
                break
            await asyncio.sleep(0.05)
    say(ready=True, rss_kb=status_kb("VmRSS"))

    async def progress(every: float) -> None:
        while True:
            await asyncio.sleep(every)
            if go.is_set():
                say(handled=handled, done=reached.is_set())

    reporter = None
    if mode == "latency":

        async def report_latencies() -> None:
            await reached.wait()
            say(latencies_ns=latencies)

        reporter = asyncio.create_task(report_latencies())
    else:
        reporter = asyncio.create_task(progress(0.1 if mode == "count" else 0.2))
    while (word := await inbox.get()) != "stop":
        if word == "go":
            go.set()
    owned = list(group.status.partitions)
    reporter.cancel()
    task.cancel()
    await asyncio.gather(task, reporter, return_exceptions=True)
    await broker.close()
    await state.close()
    await store.close()
    say(
        final=True,
        handled=handled,
        partitions=owned,
        rss_kb=status_kb("VmRSS"),
        rss_peak_kb=status_kb("VmHWM"),
    )


def main() -> int:
    asyncio.run(run(json.loads(sys.argv[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
