"""What a lone PostgreSQL append costs, statement by statement.

Usage: PYTHONPATH=src:. python -m benchmarks.scripts.pg_append [URL] [APPENDS=2000]

Opens a store in a scratch schema (dropped afterwards) and, round robin so that every variant
sees the same machine weather, appends one event at a time in these ways, each to its own
stream of the same ``events`` table:

    store      ``store.append`` (the whole path: validation, the writer, the hand-offs)
    queued     the same on a second store opened with ``direct_appends=False`` (every append
               goes through the writer task's queue)
    single     the writer's lone-append statement (``append_single``) called directly on a
               connection of its own, no NOTIFY
    notify     the same with the NOTIFY channel passed (a wake-up sent on every commit)
    insert     a plain ``INSERT ... VALUES`` of the same row with the position and version
               computed by the client: the floor for one row on this table
    group      ``append_group()`` (PL/pgSQL under the advisory lock) for one append

Prints the median, p90 and mean µs of each, and the load average before and after.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import factstream as fs
from factstream.store.postgres.connection import open_connection, quote_ident
from factstream.store.postgres.statements import Statements
from factstream.store.postgres.store import PostgresEventStore

DSN = "postgresql://postgres@127.0.0.1:5432/test"
DATA = b'{"sku":"sku-1","quantity":1,"price":100}'


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


async def main(url: str, appends: int) -> None:
    schema = f"probe_{uuid.uuid4().hex[:8]}"
    store = await PostgresEventStore.open(url, schema=schema)
    queued = await PostgresEventStore.open(url, schema=schema, direct_appends=False)
    conn = await open_connection(store.settings, "writer")
    sql = Statements.for_schema(schema)
    s = quote_ident(schema)
    insert = (
        f"INSERT INTO {s}.events (position, id, stream_id, version, type, schema_version, "
        "data, metadata, correlation_id, causation_id, recorded_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, statement_timestamp())"
    )
    head = 0
    versions: dict[str, int] = {}

    def event_args() -> tuple[Any, ...]:
        return (uuid.uuid4(), "ItemAdded", 1, DATA, None, None, None)

    async def via_store() -> int:
        result = await store.append("store", [fs.NewEvent("ItemAdded", {"sku": "sku-1"})])
        return result.position

    async def via_queue() -> int:
        result = await queued.append("queued", [fs.NewEvent("ItemAdded", {"sku": "sku-1"})])
        return result.position

    async def single(channel: str | None, stream: str) -> int:
        version = versions.get(stream, 0)
        row = await conn.fetchrow(sql.append_single, stream, version, *event_args(), channel)
        assert row is not None
        return int(row[1])

    async def plain() -> int:
        event_id, *columns = event_args()
        version = versions.get("insert", 0) + 1
        await conn.execute(insert, head + 1, event_id, "insert", version, *columns)
        return head + 1

    async def group() -> int:
        version = versions.get("group", 0)
        arguments = [sql.append_key, ["group"], [1], [version], [1], [1], [0]]
        arguments += [[value] for value in event_args()] + [None]
        row = await conn.fetchrow(sql.append_group, *arguments)
        assert row is not None
        return int(row[1])

    variants: dict[str, Callable[[], Awaitable[int]]] = {
        "store": via_store,
        "queued": via_queue,
        "single": lambda: single(None, "single"),
        "notify": lambda: single(sql.channel, "notify"),
        "insert": plain,
        "group": group,
    }
    spent: dict[str, list[float]] = {name: [] for name in variants}
    print(f"load average before: {_loadavg()}")
    try:
        for i in range(appends + 50):
            for name, run in variants.items():
                t0 = time.perf_counter()
                head = await run()
                t1 = time.perf_counter()
                versions[name] = versions.get(name, 0) + 1
                if i >= 50:  # warm-up
                    spent[name].append((t1 - t0) * 1e6)
    finally:
        await conn.execute(f"DROP SCHEMA {s} CASCADE")
        await conn.close()
        await store.close()
        await queued.close()
    print(f"load average after: {_loadavg()}")
    print(f"{'µs per append':<10} {'p50':>7} {'p90':>7} {'mean':>7}")
    for name, values in spent.items():
        values.sort()
        p50 = statistics.median(values)
        p90 = values[int(len(values) * 0.9)]
        print(f"{name:<10} {p50:7.0f} {p90:7.0f} {statistics.fmean(values):7.0f}")


if __name__ == "__main__":
    asyncio.run(
        main(
            sys.argv[1] if len(sys.argv) > 1 else DSN,
            int(sys.argv[2]) if len(sys.argv) > 2 else 2000,
        )
    )
