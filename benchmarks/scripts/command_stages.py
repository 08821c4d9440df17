"""Where a load -> decide -> save command spends its time, stage by stage.

Usage: PYTHONPATH=src:. python -m benchmarks.scripts.command_stages MODE BACKEND [ARGS]
    stages BACKEND [COMMANDS=2000]      the stage timings below
    costs BACKEND [TASKS=1] [COMMANDS=2000]
        per command through the bus with TASKS concurrent tasks: commands/s, CPU µs of the
        event loop's thread and of the store's other threads (from /proc: less sensitive to
        a busy machine than wall time), Python function calls and socket sends (cProfile,
        a second run)
    BACKEND: memory | sqlite | postgres (postgresql://postgres@127.0.0.1:5432/test, a scratch
    schema dropped afterwards)

Runs scenario (c)'s workload (``benchmarks/write_fs.py``: 100 orders, commands round robin)
on a fresh store, alternating: even commands go through ``CommandBus.dispatch`` as the harness
does (``bus``), odd ones as the same steps spelled out with a timer around each (what the bus
and the repository do, without their glue). Alternating pairs the two under the same machine
weather. Prints the median µs per command of each stage:

    bus        the whole dispatch
    dispatch   the bus's own work: command context, middleware chain, retry loop
    read       ``store.read`` of the aggregate's stream (one call)
    replay     decoding the recorded events through the registry and applying them
    decide     the command method (records the new event)
    encode     typed event -> ``NewEvent`` (deterministic id, correlation, causation)
    append     ``store.append``: validation, the writer, the commit, the hand-offs back

``dispatch`` is the bus's median minus the sum of the stages' medians, so it is the noisiest
figure; the other stages are timed directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import factstream as fs

from .. import write_fs
from ..sizes import Sizes
from ..write_fs import AddItem, Order, _bus, _create, _registry

DSN = "postgresql://postgres@127.0.0.1:5432/test"
STAGES = ("read", "replay", "decide", "encode", "append")


async def _staged(
    store: fs.EventStore,
    registry: fs.EventRegistry,
    repository: fs.Repository[Order],
    command: AddItem,
    spent: dict[str, list[int]],
) -> None:
    """One command as the bus, ``updates`` and the repository run it, a timer at each step."""
    clock = time.perf_counter_ns
    context = fs.CommandBus.context_for(command)
    stream = repository.stream_id(command.order_id)
    t0 = clock()
    page = await store.read(stream, from_version=1, limit=repository.page_size)
    t1 = clock()
    order = Order(command.order_id)
    order._stored_each(registry.decode_each(page), [recorded.version for recorded in page])
    t2 = clock()
    order.add_item(command.seq)
    t3 = clock()
    [event] = order.uncommitted_events
    batch = [
        registry.to_new_event(
            event,
            id=context.event_ids(stream, 1)[0],
            correlation_id=context.correlation_id,
            causation_id=str(context.command_id),
        )
    ]
    t4 = clock()
    await store.append(stream, batch, order.committed_version)
    t5 = clock()
    for stage, spent_ns in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
        spent[stage].append(spent_ns)


async def stages(store: fs.EventStore, sizes: Sizes) -> dict[str, float]:
    """Median µs per command: through the bus, and stage by stage (alternating, paired)."""
    registry = _registry()
    repository = fs.Repository(store, registry, Order)
    ids = [f"c-{n}" for n in range(sizes.command_aggregates)]
    for order_id in ids:
        await _create(repository, order_id, 1)
    bus = _bus(store)
    spent: dict[str, list[int]] = {stage: [] for stage in ("bus", *STAGES)}
    for n in range(sizes.commands):
        command = AddItem(ids[n % len(ids)], n)
        if n % 2:
            await _staged(store, registry, repository, command, spent)
        else:
            start = time.perf_counter_ns()
            await bus.dispatch(command)
            spent["bus"].append(time.perf_counter_ns() - start)
    return {stage: statistics.median(values) / 1000 for stage, values in spent.items()}


@contextlib.asynccontextmanager
async def scratch_store(backend: str) -> AsyncIterator[fs.EventStore]:
    """A fresh store, removed afterwards (a temporary folder, or a schema dropped)."""
    schema = f"stages_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="factstream-stages-") as folder:
        if backend == "sqlite":
            url = f"sqlite:///{folder}/stages.db"
        elif backend == "postgres":
            url = f"{DSN}?schema={schema}"
        else:
            url = "memory://"
        try:
            async with fs.connect(url) as store:
                yield store
        finally:
            if backend == "postgres":
                import asyncpg

                conn = await asyncpg.connect(DSN)
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                await conn.close()


def _cpu_ticks() -> dict[str, int]:
    """CPU time (user + system, clock ticks) of each thread of this process, by thread id."""
    ticks = {}
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks[tid] = int(fields[11]) + int(fields[12])
    return ticks


async def costs(backend: str, tasks: int, commands: int) -> dict[str, float]:
    """Per command: CPU µs of the event loop's thread and of the others, Python calls, sends."""
    sizes = Sizes(commands=commands)
    commands = sizes.commands // tasks * tasks  # what write_fs.commands runs
    async with scratch_store(backend) as store:
        loop_thread = str(threading.get_native_id())
        before = _cpu_ticks()
        rate = (await write_fs.commands(store, sizes, tasks=tasks))["events_per_s"]
        after = _cpu_ticks()
    per_tick = 1e6 / os.sysconf("SC_CLK_TCK") / commands
    spent = {tid: ticks - before.get(tid, 0) for tid, ticks in after.items()}
    profile = cProfile.Profile()
    async with scratch_store(backend) as store:
        profile.enable()
        await write_fs.commands(store, sizes, tasks=tasks)
        profile.disable()
    stats: dict[Any, tuple[Any, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    calls = sum(entry[1] for entry in stats.values())
    sends = sum(entry[1] for key, entry in stats.items() if "'send' of '_socket" in key[2])
    return {
        "commands_per_s": rate,
        "loop_cpu_us": spent.get(loop_thread, 0) * per_tick,
        "other_threads_cpu_us": sum(v for k, v in spent.items() if k != loop_thread) * per_tick,
        "python_calls": calls / commands,
        "socket_sends": sends / commands,
    }


async def main(argv: list[str]) -> None:
    mode, backend = argv[0], argv[1]
    if mode == "stages":
        commands = int(argv[2]) if len(argv) > 2 else 2000
        async with scratch_store(backend) as store:
            spent = await stages(store, Sizes(commands=commands))
        print(f"{backend}: median µs per command over {commands} commands (half through the bus)")
        for stage, micros in spent.items():
            print(f"  {stage:<17} {micros:8.1f}")
        print(f"  dispatch (rest)   {spent['bus'] - sum(spent[s] for s in STAGES):8.1f}")
    elif mode == "costs":
        tasks = int(argv[2]) if len(argv) > 2 else 1
        commands = int(argv[3]) if len(argv) > 3 else 2000
        figures = await costs(backend, tasks, commands)
        print(
            f"{backend}, {tasks} task(s), per command: "
            + ", ".join(f"{name} {value:,.1f}" for name, value in figures.items())
        )
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
