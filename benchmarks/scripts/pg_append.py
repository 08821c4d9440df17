"""What a lone PostgreSQL append costs, path by path and statement by statement.

Usage: PYTHONPATH=src:. python -m benchmarks.scripts.pg_append [URL] [APPENDS=2000]

Appends one event at a time, round robin so that every variant sees the same machine weather,
each variant to its own scratch schema (dropped afterwards), as scenario (a) does:

    store      ``store.append`` (the whole path: validation, the writer, its statement)
    lookup     the same, the writer never inserting at a known position (``lone.py``): each
               lone append runs ``append_single``, which reads the head and the version
    queued     the same as ``store`` with ``direct_appends=False``: every append goes through
               the writer task's queue
    single     ``append_single`` called on a connection of its own (no store, no NOTIFY)
    insert     ``insert_single``, the plain ``INSERT ... VALUES`` at a known position and
               version, on a connection of its own
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

import asyncpg

import factstream as fs
from factstream.store.postgres.connection import open_connection, quote_ident
from factstream.store.postgres.statements import Statements
from factstream.store.postgres.store import PostgresEventStore

DSN = "postgresql://postgres@127.0.0.1:5432/test"
DATA = b'{"sku":"sku-1","quantity":1,"price":100}'
Variant = Callable[[int], Awaitable[None]]  # called with the number of the append (from 0)


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _event() -> tuple[Any, ...]:
    return (uuid.uuid4(), "ItemAdded", 1, DATA, None, None, None)


async def _store(
    url: str, schema: str, guess: bool, **options: Any
) -> tuple[Variant, Callable[[], Any]]:
    store = await PostgresEventStore.open(url, schema=schema, **options)
    if not guess:  # probing only: the writer's lone appender never inserts at known positions
        store._writer._lone._no_guess_until = float("inf")

    async def run(n: int) -> None:
        await store.append("s", [fs.NewEvent("ItemAdded", {"n": n})])

    return run, store.close


async def _connection(url: str, schema: str, kind: str) -> tuple[Variant, Callable[[], Any]]:
    store = await PostgresEventStore.open(url, schema=schema)  # creates the schema
    await store.close()
    conn = await open_connection(store.settings, "writer")
    sql = Statements.for_schema(schema)

    async def single(n: int) -> None:
        await conn.fetchrow(sql.append_single, "s", n, *_event(), None)

    async def insert(n: int) -> None:
        await conn.execute(sql.insert_single, n + 1, "s", n + 1, *_event())

    async def group(n: int) -> None:
        events = [[value] for value in _event()]
        head = [sql.append_key, ["s"], [1], [n], [1], [1], [0]]
        await conn.fetchrow(sql.append_group, *head, *events, None)

    return {"single": single, "insert": insert, "group": group}[kind], conn.close


async def main(url: str, appends: int) -> None:
    made: dict[str, tuple[str, tuple[Variant, Callable[[], Any]]]] = {}
    for name in ("store", "lookup", "queued", "single", "insert", "group"):
        schema = f"probe_{uuid.uuid4().hex[:8]}"
        if name in ("store", "lookup", "queued"):
            variant = await _store(url, schema, name != "lookup", direct_appends=name != "queued")
            made[name] = (schema, variant)
        else:
            made[name] = (schema, await _connection(url, schema, name))
    spent: dict[str, list[float]] = {name: [] for name in made}
    print(f"load average before: {_loadavg()}")
    try:
        for n in range(appends + 50):
            for name, (_, (run, _)) in made.items():
                t0 = time.perf_counter()
                await run(n)
                t1 = time.perf_counter()
                if n >= 50:  # warm-up
                    spent[name].append((t1 - t0) * 1e6)
    finally:
        admin = await asyncpg.connect(url)
        for schema, (_, close) in made.values():
            await close()
            await admin.execute(f"DROP SCHEMA {quote_ident(schema)} CASCADE")
        await admin.close()
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
