"""Where a consumer group member on Redis spends its time (scenario sg's workload).

Usage: PYTHONPATH=src:. python -m benchmarks.scripts.redis_member [MODE] [EVENTS=20000]
    rate       events/s of one member (from its first event to its last), CPU µs per event
               over that window (every thread of the process), and the garbage collector's
               passes and time in it (the default)
    stages     the same, plus the time each partition reader awaited ``fetch``, the marks'
               save and ``ack`` (summed over the 8 readers, so they overlap)
    profile    the same under cProfile (slower; the top 35 functions by own time)

Like ``python -m benchmarks --scenarios sg --brokers redis``: a fresh SQLite store of EVENTS
events (10 per stream) in a new temporary folder (removed afterwards), the
streaming state in a file of its own, a fresh broker prefix on ``redis://127.0.0.1:6379/0``,
8 partitions, the relay run untimed, then one member with a counting handler. For a sampling
profile, run it under py-spy (``py-spy record -f raw -o out.txt -- python -m ...``).
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import os
import pathlib
import pstats
import sys
import tempfile
import time
import uuid
from typing import Any

import factstream as fs
from factstream.streaming import ConsumerGroup, GroupSettings

from ..sizes import Sizes
from ..streaming import Setup, fill
from ..targets import Target


class GcClock:
    """Passes of the garbage collector per generation and the time in them, while on."""

    def __init__(self) -> None:
        self.on = False
        self.seconds = 0.0
        self.passes = [0, 0, 0]
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.passes[info["generation"]] += 1


class Awaits:
    """Seconds the partition readers spent awaiting fetch, marks and acks (mode ``stages``)."""

    def __init__(self, setup: Setup) -> None:
        self.seconds: dict[str, float] = {"fetch": 0.0, "save_marks": 0.0, "ack": 0.0}
        self.batches: list[int] = []
        from factstream.streaming.brokers import redis_group

        consumer: Any = redis_group.RedisConsumer
        fetch, ack, save = consumer.fetch, consumer.ack, setup.state.save_marks

        async def timed_fetch(reader: Any, count: int, timeout: float) -> Any:
            began = time.perf_counter()
            out = await fetch(reader, count, timeout)
            self.seconds["fetch"] += time.perf_counter() - began
            return out

        async def timed_ack(reader: Any, deliveries: Any) -> None:
            began = time.perf_counter()
            await ack(reader, deliveries)
            self.seconds["ack"] += time.perf_counter() - began
            self.batches.append(len(deliveries))

        async def timed_save(group: str, marks: Any) -> None:
            began = time.perf_counter()
            await save(group, marks)
            self.seconds["save_marks"] += time.perf_counter() - began

        consumer.fetch, consumer.ack = timed_fetch, timed_ack
        setup.state.save_marks = timed_save


async def measure(mode: str, count: int) -> None:
    scratch = tempfile.TemporaryDirectory(prefix="factstream-redis-member-")
    target = Target("sqlite", path=str(pathlib.Path(scratch.name) / f"m{uuid.uuid4().hex[:8]}.db"))
    clock = GcClock()
    try:
        async with Setup(target, Sizes(), "redis", {}) as setup:
            assert setup.store is not None
            await fill(setup.store, count)
            await setup.relay_all(count)
            awaits = Awaits(setup) if mode == "stages" else None
            handled = 0
            first = cpu_first = 0.0
            done = asyncio.Event()

            async def handler(event: fs.RecordedEvent) -> None:
                nonlocal handled, first, cpu_first
                handled += 1
                if handled == 1:
                    first, cpu_first = time.perf_counter(), time.process_time()
                    clock.on = True
                if handled >= count:
                    done.set()

            group = ConsumerGroup(
                "bench",
                setup.broker,
                setup.store,
                setup.state,
                handler,
                GroupSettings(max_in_flight=256, fetch_timeout=0.5, lease_ttl=3.0),
            )
            profile = cProfile.Profile() if mode == "profile" else None
            if profile is not None:
                profile.enable()
            task = asyncio.create_task(group.run())
            await asyncio.wait_for(done.wait(), 600)
            ended, cpu_ended = time.perf_counter(), time.process_time()
            clock.on = False
            if profile is not None:
                profile.disable()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        scratch.cleanup()
    seconds = ended - first
    print(
        f"{(count - 1) / seconds:,.0f} events/s, {(cpu_ended - cpu_first) / count * 1e6:.1f} "
        f"CPU µs an event (CPU / wall {(cpu_ended - cpu_first) / seconds:.2f}); gc passes "
        f"{clock.passes} taking {clock.seconds * 1000:.1f} ms of {seconds * 1000:.0f} ms; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    if awaits is not None:
        sizes = awaits.batches
        print(
            "awaited (ms, summed over readers):",
            {k: round(v * 1000, 1) for k, v in awaits.seconds.items()},
            f"batches {len(sizes)}, {sum(sizes) / max(1, len(sizes)):.0f} events each",
        )
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(35)


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "rate"
    if mode not in ("rate", "stages", "profile"):
        print(__doc__)
        return 2
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    asyncio.run(measure(mode, count))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
