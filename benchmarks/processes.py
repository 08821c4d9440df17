"""(h) Several processes appending to one store at once: total events/s for 1, 2 and 4.

Each variant is ``h-<mode>-<processes>``:

- ``seq``: every process appends single events to new streams, each append awaited before the
  next (factstream: ``store.append(..., expected_version=NO_STREAM)``; eventsourcing:
  ``app.save(Order(data))``, the same as its side of (d)).
- ``tasks``: every process runs ``sizes.tasks`` asyncio tasks doing the same (factstream only:
  eventsourcing's API is synchronous).

The measuring process creates the store's tables once, starts the writer processes
(``python -m benchmarks.processes JOB``) one after the other, lets each open its store and warm
up, then releases them together and waits. Every writer stamps its first and last append with
``time.perf_counter`` (CLOCK_MONOTONIC, one clock for all processes); the figure is all events
over the time from the earliest start to the latest end, so a straggler counts.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

from .payload import EVENT_TYPE, payload
from .sizes import Sizes
from .targets import Target

Result = dict[str, Any]

PROCESS_COUNTS = (1, 2, 4)
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TIMEOUT = 600


def variants(side: str) -> list[str]:
    """The (h) measurements of one side, in the order they run."""
    modes = ("seq", "tasks") if side == "factstream" else ("seq",)
    return [f"h-{mode}-{count}" for mode in modes for count in PROCESS_COUNTS]


def parse(variant: str) -> tuple[str, int]:
    """``"h-tasks-4"`` -> ``("tasks", 4)``."""
    parts = variant.split("-")
    if (
        len(parts) != 3
        or parts[0] != "h"
        or parts[1] not in ("seq", "tasks")
        or not parts[2].isdigit()
        or int(parts[2]) < 1
    ):
        raise ValueError(f"not an (h) variant: {variant!r}")
    return parts[1], int(parts[2])


def per_process(mode: str, sizes: Sizes) -> int:
    """Appends each writer process makes (a multiple of ``sizes.tasks`` in ``tasks`` mode).

    Raises:
        ValueError: the sizes leave a writer nothing to append.
    """
    if mode == "seq":
        count = sizes.process_sequential
    elif sizes.tasks < 1:
        raise ValueError(f"(h) needs at least one task per process, got tasks={sizes.tasks}")
    else:
        count = sizes.process_concurrent // sizes.tasks * sizes.tasks
    if count < 1:
        raise ValueError(f"(h) {mode}: no appends per process with these sizes")
    return count


# -- the writer processes ---------------------------------------------------------------------


async def _factstream_writer(job: dict[str, Any]) -> Result:
    import factstream as fs

    target = Target.from_json(job["target"])
    sizes = Sizes.from_json(job["sizes"])
    index: int = job["index"]
    mode: str = job["mode"]
    count = per_process(mode, sizes)
    async with fs.connect(target.factstream_url()) as store:
        for i in range(sizes.warmup):
            await store.append(
                f"warmup-{index}", [fs.NewEvent(EVENT_TYPE, payload(i))], expected_version=i
            )

        async def lane(name: str, appends: int) -> None:
            for j in range(appends):
                await store.append(
                    f"order-{index}-{name}-{j}",
                    [fs.NewEvent(EVENT_TYPE, payload(j))],
                    expected_version=fs.NO_STREAM,
                )

        _ready_then_wait()
        start = time.perf_counter()
        if mode == "seq":
            await lane("s", count)
        else:
            per_task = count // sizes.tasks
            await asyncio.gather(*(lane(f"t{t}", per_task) for t in range(sizes.tasks)))
        end = time.perf_counter()
    return {"start": start, "end": end, "events": count}


def _eventsourcing_writer(job: dict[str, Any]) -> Result:
    from .es_side import Order, Orders

    target = Target.from_json(job["target"])
    sizes = Sizes.from_json(job["sizes"])
    count = per_process(job["mode"], sizes)
    app = Orders(env=target.eventsourcing_env())
    try:
        for i in range(sizes.warmup):
            app.save(Order(payload(i)))
        _ready_then_wait()
        start = time.perf_counter()
        for j in range(count):
            app.save(Order(payload(j)))
        end = time.perf_counter()
    finally:
        app.close()
    return {"start": start, "end": end, "events": count}


def _ready_then_wait() -> None:
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("the measuring process went away")


def writer_main(job: dict[str, Any]) -> Result:
    if job["side"] == "factstream":
        return asyncio.run(_factstream_writer(job))
    return _eventsourcing_writer(job)


# -- the measuring process --------------------------------------------------------------------


def _create_tables(side: str, target: Target) -> None:
    """Once, before the writers start, so they do not race to create the same tables."""
    if side == "factstream":
        import factstream as fs

        async def open_and_close() -> None:
            async with fs.connect(target.factstream_url()) as store:
                await store.head_position()

        asyncio.run(open_and_close())
    else:
        from .es_side import Orders

        Orders(env=target.eventsourcing_env()).close()


def _start_writer(job: dict[str, Any]) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.processes", json.dumps(job)],
        cwd=_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _failure(proc: subprocess.Popen[str], what: str) -> RuntimeError:
    proc.kill()
    _, err = proc.communicate()
    last = err.strip().splitlines()[-1:] or ["no output"]
    return RuntimeError(f"an (h) writer process {what}: {last[0]}")


def measure(side: str, variant: str, target: Target, sizes: Sizes) -> Result:
    mode, count = parse(variant)
    if variant not in variants(side):
        raise ValueError(f"{side} has no (h) variant {variant!r}; it has {variants(side)}")
    per_process(mode, sizes)  # refuse sizes that give the writers nothing to do, before starting
    _create_tables(side, target)
    base = {"side": side, "mode": mode, "target": target.to_json(), "sizes": sizes.to_json()}
    writers: list[subprocess.Popen[str]] = []
    try:
        # One after the other: opening runs each library's CREATE ... IF NOT EXISTS, which
        # PostgreSQL can refuse when sessions run it at once ("tuple concurrently updated").
        for index in range(count):
            proc = _start_writer({**base, "index": index})
            writers.append(proc)
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise _failure(proc, "failed before it was ready")
        for proc in writers:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in writers:
            out, err = proc.communicate(timeout=_TIMEOUT)
            lines = out.strip().splitlines()
            if proc.returncode != 0 or not lines:
                last = err.strip().splitlines()[-1:] or ["no output"]
                raise RuntimeError(f"an (h) writer process failed: {last[0]}")
            results.append(json.loads(lines[-1]))
    finally:
        for proc in writers:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    events = sum(r["events"] for r in results)
    elapsed = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {
        "events_per_s": events / elapsed,
        "events": events,
        "processes": count,
        "slowest_process_events_per_s": min(r["events"] / (r["end"] - r["start"]) for r in results),
    }


if __name__ == "__main__":
    print(json.dumps(writer_main(json.loads(sys.argv[1]))))
