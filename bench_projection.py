"""Quick measure: catch-up throughput of a projection into a SQLite table with its checkpoint.

Usage: PYTHONPATH=src python bench_projection.py [EVENTS] [BATCH_SIZE] [sqlite|postgres]
(postgres: postgresql://postgres@127.0.0.1:5432/test, a scratch schema dropped afterwards)
Not a benchmark of the suite (benchmarks/ is elsewhere): one number, events/s.
"""

from __future__ import annotations

import asyncio
import pathlib
import sys
import tempfile
import time

import factstream as fs
from factstream.projections import Projection, ProjectionRunner, SqliteTarget, SqlTransaction

DSN = "postgresql://postgres@127.0.0.1:5432/test"


class Orders(Projection[SqlTransaction]):
    name = "bench_orders"
    tables = {  # noqa: RUF012
        "orders": "CREATE TABLE {orders} (order_id TEXT PRIMARY KEY, customer TEXT, "
        "total INTEGER NOT NULL DEFAULT 0)"
    }
    indexes = ("CREATE INDEX {orders}_customer ON {orders} (customer)",)

    @fs.handles("OrderCreated")
    def created(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
        tx.execute(
            "INSERT INTO {orders} (order_id, customer) VALUES (?, ?)",
            (event.data["order"], event.data["customer"]),
        )


async def main(count: int, batch_size: int, kind: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{pathlib.Path(folder) / 'events.db'}"
        async with fs.connect(url, synchronous="NORMAL") as store:
            for start in range(0, count, 1000):
                await store.append(
                    f"orders-{start}",
                    [
                        fs.NewEvent("OrderCreated", {"order": f"o{n}", "customer": f"c{n % 97}"})
                        for n in range(start, min(start + 1000, count))
                    ],
                )
            target: fs.SqliteTarget | fs.PostgresTarget = SqliteTarget(
                pathlib.Path(folder) / "rm.db"
            )
            if kind == "postgres":
                target = fs.PostgresTarget(DSN, f"bench_{int(time.time())}")
            runner = ProjectionRunner(
                store, Orders(), target, batch_size=batch_size, heartbeat_interval=None
            )
            began = time.perf_counter()
            reached = await runner.catch_up()
            elapsed = time.perf_counter() - began
        if kind == "postgres":
            import asyncpg

            conn = await asyncpg.connect(DSN)
            await conn.execute(f"DROP SCHEMA {target.schema} CASCADE")  # type: ignore[union-attr]
            await conn.close()
        assert reached == count
        print(
            f"catch-up of {count:,} events into {kind} (batch {batch_size}): "
            f"{elapsed:.2f} s, {count / elapsed:,.0f} events/s"
        )


if __name__ == "__main__":
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    asyncio.run(main(events, batch, sys.argv[3] if len(sys.argv) > 3 else "sqlite"))
