"""Read-side figures of issue 5 (standalone, not yet side by side in the harness).

Usage: PYTHONPATH=src python -m benchmarks.scripts.projections SCENARIO [ARGS]
    catchup sqlite|postgres [EVENTS=200000] [BATCH=1000]
        events/s of a runner catching up into an indexed table with its checkpoint
    lag [SECONDS=10] [RATE=1000]
        live lag p50/p99 (event committed -> its batch committed in the read model) while a
        writer appends RATE events/s one by one (SQLite store, SQLite read model)
    rss [EVENTS=1000000]
        peak RSS of a process catching up on EVENTS events (the fill is another process)
    workers [EVENTS=200000] [COUNTS=1,2,4]
        time for 1, 2, 4 partitioned worker processes (8 partitions, PostgreSQL read model)
        to apply EVENTS events
PostgreSQL: postgresql://postgres@127.0.0.1:5432/test, scratch schemas dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence

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

DSN = "postgresql://postgres@127.0.0.1:5432/test"


class Orders(Projection[SqlTransaction]):
    name = "bench_orders"
    tables = {  # noqa: RUF012
        "orders": "CREATE TABLE {orders} (order_id TEXT PRIMARY KEY, customer TEXT, "
        "total INTEGER NOT NULL DEFAULT 0)"
    }
    indexes = ("CREATE INDEX {orders}_customer ON {orders} (customer)",)
    seen: list[tuple[int, float]] | None = None

    async def apply(self, events: Sequence[fs.RecordedEvent], tx: SqlTransaction) -> None:
        tx.executemany(
            "INSERT INTO {orders} (order_id, customer) VALUES (?, ?)",
            [(e.data["order"], e.data["customer"]) for e in events],
        )
        if self.seen is not None:
            self.seen.extend((e.position, e.timestamp.timestamp()) for e in events)

    event_types = None


async def fill(url: str, count: int, streams: int = 0) -> None:
    async with fs.connect(url, synchronous="NORMAL") as store:
        for start in range(0, count, 1000):
            stream = f"orders-{start // 1000 % streams}" if streams else f"orders-{start}"
            await store.append(
                stream,
                [
                    fs.NewEvent("OrderCreated", {"order": f"o{n}", "customer": f"c{n % 97}"})
                    for n in range(start, min(start + 1000, count))
                ],
            )


async def drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def catchup(kind: str, count: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{pathlib.Path(folder) / 'events.db'}"
        await fill(url, count)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        target: SqlTarget = (
            PostgresTarget(DSN, schema)
            if kind == "postgres"
            else SqliteTarget(pathlib.Path(folder) / "rm.db")
        )
        try:
            async with fs.connect(url) as store:
                runner = ProjectionRunner(
                    store, Orders(), target, batch_size=batch, heartbeat_interval=None
                )
                began = time.perf_counter()
                assert await runner.catch_up() == count
                elapsed = time.perf_counter() - began
        finally:
            if kind == "postgres":
                await drop_schema(schema)
    print(f"catch-up {count:,} events -> {kind} (batch {batch}): {count / elapsed:,.0f} events/s")


async def lag(seconds: float, rate: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{pathlib.Path(folder) / 'events.db'}"
        projection = Orders()
        projection.seen = []
        lags: list[float] = []
        pending: list[tuple[int, float]] = projection.seen

        def committed(position: int) -> None:
            now = time.time()
            keep = []
            for p, stamp in pending:
                if p <= position:
                    lags.append(now - stamp)
                else:
                    keep.append((p, stamp))
            pending[:] = keep

        async with fs.connect(url, synchronous="NORMAL") as store:
            target = SqliteTarget(pathlib.Path(folder) / "rm.db")
            async with ProjectionRunner(store, projection, target, on_commit=committed):
                loop = asyncio.get_running_loop()
                start = loop.time()
                total = int(seconds * rate)
                tasks = []
                for n in range(total):
                    delay = start + n / rate - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    event = fs.NewEvent("OrderCreated", {"order": f"o{n}", "customer": "c"})
                    tasks.append(asyncio.ensure_future(store.append(f"o{n}", [event])))
                await asyncio.gather(*tasks)
                achieved = total / (loop.time() - start)
                while len(lags) < total:  # noqa: ASYNC110 - a bench: polling is fine
                    await asyncio.sleep(0.05)
    lags.sort()
    p50 = statistics.median(lags) * 1000
    p99 = lags[int(len(lags) * 0.99) - 1] * 1000
    print(
        f"live lag at {achieved:,.0f} events/s offered ({total:,} events): "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {lags[-1] * 1000:.1f} ms"
    )


async def rss_child(url: str, folder: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with fs.connect(url) as store:
        target = SqliteTarget(pathlib.Path(folder) / "rm.db")
        runner = ProjectionRunner(store, Orders(), target, heartbeat_interval=None)
        began = time.perf_counter()
        reached = await runner.catch_up()
        elapsed = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"catch-up of {reached:,} events: peak RSS {peak / 1024:.0f} MiB "
        f"(at start {before / 1024:.0f} MiB), {reached / elapsed:,.0f} events/s"
    )


async def rss(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{pathlib.Path(folder) / 'events.db'}"
        await fill(url, count)
        # A fresh process, so its peak RSS is the catch-up's alone.
        subprocess.run([sys.executable, __file__, "rss-child", url, folder], check=True)  # noqa: ASYNC221


async def worker_child(url: str, schema: str, started: str) -> None:
    async with fs.connect(url) as store:
        worker = PartitionedWorker(
            store,
            Orders(),
            PostgresTarget(DSN, schema),
            partitions=8,
            lease_timeout=3.0,
            renew_interval=0.5,
        )
        async with worker:
            await asyncio.Event().wait()


async def workers(count: int, counts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{pathlib.Path(folder) / 'events.db'}"
        await fill(url, count, streams=64)
        for n in counts:
            schema = f"bench_w_{uuid.uuid4().hex[:8]}"
            target = PostgresTarget(DSN, schema)
            session = await target.connect()  # create the schema and tables up front
            await session.migrate()
            await session.close()
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
            began = time.perf_counter()
            children = [
                subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited
                    [sys.executable, __file__, "worker-child", url, schema, "x"], env=env
                )
                for _ in range(n)
            ]
            try:
                session = await target.connect()
                while True:
                    rows = await session.query(
                        "SELECT count(*), min(position) FROM factstream_checkpoints"
                    )
                    if int(rows[0][0]) == 8 and int(rows[0][1]) >= count:
                        break
                    await asyncio.sleep(0.05)
                elapsed = time.perf_counter() - began
                await session.close()
            finally:
                for child in children:
                    child.kill()
                    child.wait()
                await drop_schema(schema)
            print(
                f"{n} partitioned worker(s), 8 partitions, {count:,} events -> PostgreSQL: "
                f"{elapsed:.2f} s from start, {count / elapsed:,.0f} events/s"
            )


def main(argv: list[str]) -> None:
    scenario, args = argv[0], argv[1:]
    if scenario == "catchup":
        kind = args[0] if args else "sqlite"
        asyncio.run(
            catchup(
                kind,
                int(args[1]) if len(args) > 1 else 200_000,
                int(args[2]) if len(args) > 2 else 1000,
            )
        )
    elif scenario == "lag":
        asyncio.run(lag(float(args[0]) if args else 10.0, int(args[1]) if len(args) > 1 else 1000))
    elif scenario == "rss":
        asyncio.run(rss(int(args[0]) if args else 1_000_000))
    elif scenario == "rss-child":
        asyncio.run(rss_child(args[0], args[1]))
    elif scenario == "workers":
        counts = [int(c) for c in args[1].split(",")] if len(args) > 1 else [1, 2, 4]
        asyncio.run(workers(int(args[0]) if args else 200_000, counts))
    elif scenario == "worker-child":
        asyncio.run(worker_child(args[0], args[1], args[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
