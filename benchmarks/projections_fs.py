"""Read-side scenarios (issue 5), factstream's side: a projection runner applying the log to
an indexed table with its checkpoint, in the store's own kind of database.

- (pc) catch-up: a runner catches up on ``projection_events`` events (written once, 1,000
  per append) into a fresh read model; events/s from opening the read model to the last
  checkpoint committed (batches of ``projection_batch``).
- (pl) live lag: a runner follows the log while single events are appended at
  ``latency_rate`` per second for ``latency_seconds``; lag is ``perf_counter_ns()`` when the
  batch holding an event has committed (the runner's ``on_commit``) minus ``t`` stamped into
  the event just before ``append`` (so the append's commit is included).
- (pm) peak RSS of a fresh process catching up on ``catchup_events`` events (``VmHWM``).
- (pw) 1, 2 and 4 :class:`PartitionedWorker` processes (8 partitions) sharing the catch-up of
  ``projection_events`` events; seconds from starting the processes to every partition's
  checkpoint at the head.

The read model lives in the backend's database: a SQLite file next to the store's (SQLite),
or a schema of its own in the same PostgreSQL database (dropped afterwards).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import factstream as fs
from factstream.projections import (
    PartitionedWorker,
    PostgresTarget,
    Projection,
    ProjectionRunner,
    SqliteTarget,
    SqlTarget,
    SqlTransaction,
)

from .fs_side import write_log
from .latency import paced_appends, summarize
from .procstats import status_kb
from .sizes import Sizes
from .targets import Target

Result = dict[str, Any]
PARTITIONS = 8


class Items(Projection[SqlTransaction]):
    """One row per ``ItemAdded`` (its position as the key), indexed by order."""

    name = "bench_items"
    tables = {  # noqa: RUF012 - class-level declaration read by the framework
        "items": "CREATE TABLE {items} (position BIGINT PRIMARY KEY, order_id TEXT NOT NULL, "
        "sku TEXT NOT NULL, quantity INTEGER NOT NULL, seq BIGINT NOT NULL)"
    }
    indexes = ("CREATE INDEX {items}_order ON {items} (order_id, position)",)

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[tuple[int, int]] | None = None  # (position, t) for the lag scenario

    @fs.handles("ItemAdded")
    def item_added(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
        data = event.data
        tx.execute(
            "INSERT INTO {items} (position, order_id, sku, quantity, seq) VALUES (?, ?, ?, ?, ?)",
            (event.position, event.stream_id, data["sku"], data["quantity"], data["seq"]),
        )
        if self.stamps is not None and "t" in data:
            self.stamps.append((event.position, data["t"]))


@contextlib.asynccontextmanager
async def read_model(target: Target) -> AsyncIterator[SqlTarget]:
    """A fresh read model in the backend's database, removed afterwards."""
    tag = uuid.uuid4().hex[:8]
    if target.backend == "postgres":
        schema = f"{target.schema}_rm{tag}"[:63]
        try:
            yield PostgresTarget(target.pg_url, schema)
        finally:
            import asyncpg

            conn = await asyncpg.connect(target.pg_url)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()
        return
    path = f"{target.path}.rm-{tag}.db"
    try:
        yield SqliteTarget(path)
    finally:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path + suffix)


async def _write(target: Target, events: int) -> Result:
    async with fs.connect(target.factstream_url()) as store:
        start = time.perf_counter()
        await write_log(store, events, 1_000)
        elapsed = time.perf_counter() - start
    return {"events_per_s": events / elapsed, "seconds": elapsed}


async def _timed_catch_up(store: fs.EventStore, rm: SqlTarget, sizes: Sizes) -> tuple[int, float]:
    """A runner catching up to the head: the position reached and the seconds it took."""
    head = await store.head_position()
    runner = ProjectionRunner(
        store, Items(), rm, batch_size=sizes.projection_batch, heartbeat_interval=None
    )
    start = time.perf_counter()
    reached = await runner.catch_up(head)
    return reached, time.perf_counter() - start


async def _catch_up(target: Target, sizes: Sizes) -> Result:
    async with fs.connect(target.factstream_url()) as store, read_model(target) as rm:
        reached, elapsed = await _timed_catch_up(store, rm, sizes)
        session = await rm.connect()
        try:
            rows = await session.query("SELECT count(*) FROM items")
        finally:
            await session.close()
    return {"events_per_s": reached / elapsed, "events": reached, "rows": int(rows[0][0])}


async def _lag(target: Target, sizes: Sizes) -> Result:
    count = int(sizes.latency_rate * sizes.latency_seconds)
    projection = Items()
    pending: list[tuple[int, int]] = []
    projection.stamps = pending
    lags: list[int] = []

    def committed(position: int) -> None:
        now = time.perf_counter_ns()
        keep = [(p, t) for p, t in pending if p > position]
        lags.extend(now - t for p, t in pending if p <= position)
        pending[:] = keep

    async with fs.connect(target.factstream_url()) as store, read_model(target) as rm:
        runner = ProjectionRunner(
            store, projection, rm, on_commit=committed, heartbeat_interval=None
        )
        async with runner:
            await asyncio.sleep(0.2)  # let the runner reach the live phase
            rate = await paced_appends(store, "ticker", sizes.latency_rate, count)
            await runner.wait_for(await store.head_position(), timeout=60)
    return summarize(lags, rate)


async def _peak_rss(target: Target, sizes: Sizes) -> Result:
    before = status_kb("VmRSS")
    async with fs.connect(target.factstream_url()) as store, read_model(target) as rm:
        reached, elapsed = await _timed_catch_up(store, rm, sizes)
    return {
        "rss_before_kb": before,
        "rss_peak_kb": status_kb("VmHWM"),
        "rss_after_kb": status_kb("VmRSS"),
        "delivered": reached,
        "seconds": elapsed,
        "events_per_s": reached / elapsed,
    }


async def _partition_worker(target: Target, rm: SqlTarget) -> None:
    async with (
        fs.connect(target.factstream_url()) as store,
        PartitionedWorker(
            store, Items(), rm, partitions=PARTITIONS, lease_timeout=3.0, renew_interval=0.5
        ),
    ):
        await asyncio.Event().wait()  # until killed


async def _workers(target: Target, sizes: Sizes, count: int) -> Result:
    async with fs.connect(target.factstream_url()) as store:
        head = await store.head_position()
    async with read_model(target) as rm:
        session = await rm.connect()  # the read side's tables first, so workers do not race
        await session.migrate()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        where = rm.path if isinstance(rm, SqliteTarget) else getattr(rm, "schema", "")
        module = "benchmarks.projections_fs"
        args = [sys.executable, "-m", module, "worker", json.dumps(target.to_json())]
        start = time.perf_counter()
        children = [subprocess.Popen([*args, str(where)], env=env) for _ in range(count)]  # noqa: ASYNC220
        try:
            while True:
                rows = await session.query(
                    "SELECT count(*), min(position) FROM factstream_checkpoints"
                )
                if int(rows[0][0]) == PARTITIONS and int(rows[0][1] or 0) >= head:
                    break
                if any(child.poll() is not None for child in children):
                    raise RuntimeError("a partitioned worker process exited")
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - start
        finally:
            for child in children:
                child.kill()
                child.wait()
            await session.close()
    return {"events_per_s": head / elapsed, "seconds": elapsed, "workers": count}


def write(target: Target, events: int) -> Result:
    return asyncio.run(_write(target, events))


def measure(scenario: str, target: Target, sizes: Sizes, workers: int = 1) -> Result:
    if scenario == "pc":
        return asyncio.run(_catch_up(target, sizes))
    if scenario == "pl":
        return asyncio.run(_lag(target, sizes))
    if scenario == "pm":
        return asyncio.run(_peak_rss(target, sizes))
    if scenario == "pw":
        return asyncio.run(_workers(target, sizes, workers))
    raise ValueError(f"unknown read-side scenario {scenario!r}")


def main(argv: Sequence[str]) -> None:
    """``python -m benchmarks.projections_fs worker TARGET_JSON WHERE``: one partitioned
    worker (started by the pw scenario)."""
    _, target_json, where = argv
    target = Target.from_json(json.loads(target_json))
    rm: SqlTarget = SqliteTarget(where)
    if target.backend == "postgres":
        rm = PostgresTarget(target.pg_url, where)
    asyncio.run(_partition_worker(target, rm))


if __name__ == "__main__":
    main(sys.argv[1:])
