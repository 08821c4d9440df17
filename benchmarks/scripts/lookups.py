"""The store port's lookups (issue 8): what their indexes cost appends, and how long they take.

Usage: PYTHONPATH=src python -m benchmarks.scripts.lookups SCENARIO [ARGS]
    appends sqlite|postgres [EVENTS=50000] [RUNS=3]
        events/s appending EVENTS events in batches of 10 from 16 tasks, each event with a
        correlation and a causation id, with the lookup indexes (migration 002) and without
        them (dropped after opening), runs interleaved; median of RUNS
    raw [ROWS=60000] [RUNS=3]
        rows/s of plain SQLite inserts (100 per transaction) into the events table without
        the lookup indexes, with two expression indexes over the body (the first design), and
        with the shipped migration 002 (two columns, partial indexes): what the indexes cost
    lookups sqlite|postgres [STREAMS=20000] [EVENTS_PER_STREAM=5]
        median latency of list_streams (a page of 100, with and without a prefix),
        event_by_id, event_at and events_by_correlation on a log of STREAMS streams
PostgreSQL: postgresql://postgres@127.0.0.1:5432/test, scratch schemas dropped afterwards.
"""

from __future__ import annotations

import asyncio
import pathlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import factstream as fs

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
_TASKS = 16
_BATCH = 10


async def _open(backend: str, folder: pathlib.Path, name: str) -> tuple[fs.EventStore, str]:
    if backend == "sqlite":
        return await fs.connect(f"sqlite:///{folder / name}.db?synchronous=normal"), ""
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    return await fs.connect(f"{PG_URL}?schema={schema}"), schema


async def _drop_lookup_indexes(backend: str, folder: pathlib.Path, name: str, schema: str) -> None:
    if backend == "sqlite":
        import sqlite3

        with sqlite3.connect(folder / f"{name}.db") as conn:
            conn.execute("DROP INDEX events_correlation")
            conn.execute("DROP INDEX events_causation")
        return
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP INDEX "{schema}".events_correlation_id')
        await conn.execute(f'DROP INDEX "{schema}".events_causation_id')
    finally:
        await conn.close()


async def _drop_schema(schema: str) -> None:
    if not schema:
        return
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def _append_rate(store: fs.EventStore, events: int) -> float:
    per_task = events // _TASKS // _BATCH

    async def writer(task: int) -> None:
        for n in range(per_task):
            cause = str(uuid.uuid4())
            batch = [
                fs.NewEvent(
                    "Happened",
                    {"task": task, "n": n, "i": i, "note": "x" * 80},
                    correlation_id=f"corr-{task}-{n // 10}",
                    causation_id=cause,
                )
                for i in range(_BATCH)
            ]
            await store.append(f"s-{task}-{n % 50}", batch)

    started = time.perf_counter()
    await asyncio.gather(*(writer(task) for task in range(_TASKS)))
    return per_task * _TASKS * _BATCH / (time.perf_counter() - started)


async def appends(backend: str, events: int, runs: int) -> None:
    rates: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as scratch:
        folder = pathlib.Path(scratch)
        for run in range(runs):
            for indexed in (True, False):
                name = f"a{run}{int(indexed)}"
                store, schema = await _open(backend, folder, name)
                try:
                    if not indexed:
                        await _drop_lookup_indexes(backend, folder, name, schema)
                    rates[indexed].append(await _append_rate(store, events))
                finally:
                    await store.close()
                    await _drop_schema(schema)
    with_indexes = statistics.median(rates[True])
    without = statistics.median(rates[False])
    print(f"{backend}: {events:,} events in batches of {_BATCH} from {_TASKS} tasks, {runs} runs")
    print(f"  with the lookup indexes:    {with_indexes:10,.0f} events/s  {rates[True]}")
    print(f"  without them:               {without:10,.0f} events/s  {rates[False]}")
    print(f"  cost of the indexes:        {100 * (1 - with_indexes / without):.1f} %")


async def _median_ms(call: Callable[[], Awaitable[Any]], repeat: int = 200) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def lookups(backend: str, streams: int, per_stream: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        store, schema = await _open(backend, pathlib.Path(scratch), "lookups")
        try:
            for start in range(0, streams, 500):
                await asyncio.gather(
                    *(
                        store.append(
                            f"order-{n:07}",
                            [
                                fs.NewEvent("Happened", {"n": n}, correlation_id=f"c-{n}")
                                for _ in range(per_stream)
                            ],
                        )
                        for n in range(start, min(start + 500, streams))
                    )
                )
            head = await store.head_position()
            middle = await store.event_at(head // 2)
            assert middle is not None
            figures = {
                "list_streams(limit=100)": lambda: store.list_streams(limit=100),
                "list_streams(after=middle)": lambda: store.list_streams(
                    after=f"order-{streams // 2:07}", limit=100
                ),
                "list_streams(prefix=, 10)": lambda: store.list_streams(
                    prefix=f"order-{streams // 2:07}"[:-1], limit=100
                ),
                "event_by_id": lambda: store.event_by_id(middle.id),
                "event_at": lambda: store.event_at(head // 2),
                "events_by_correlation": lambda: store.events_by_correlation(
                    middle.correlation_id or ""
                ),
            }
            print(f"{backend}: {streams:,} streams, {head:,} events; median of 200 calls")
            for name, call in figures.items():
                print(f"  {name:30} {await _median_ms(call):8.3f} ms")
        finally:
            await store.close()
            await _drop_schema(schema)


_SQL = pathlib.Path(fs.__file__).parent / "store" / "sqlite" / "sql"
_EXPRESSIONS = (
    "CREATE INDEX ec ON events (json_extract(CAST(body AS TEXT), '$[8]'), position) "
    "WHERE json_extract(CAST(body AS TEXT), '$[8]') IS NOT NULL; "
    "CREATE INDEX ek ON events (json_extract(CAST(body AS TEXT), '$[9]'), position) "
    "WHERE json_extract(CAST(body AS TEXT), '$[9]') IS NOT NULL;"
)


def _raw_rate(kind: str, rows: list[tuple[Any, ...]], folder: pathlib.Path) -> float:
    import sqlite3

    conn = sqlite3.connect(folder / f"{kind}-{uuid.uuid4().hex[:6]}.db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=wal")
        conn.execute("PRAGMA synchronous=normal")
        conn.executescript((_SQL / "001_events.sql").read_text())
        if kind == "expressions":
            conn.executescript(_EXPRESSIONS)
        elif kind == "columns":
            conn.executescript((_SQL / "002_lookups.sql").read_text())
        width = 8 if kind == "columns" else 6
        names = ["position", "id", "stream_id", "version", "type", "body"]
        names = [*names, "correlation_id", "causation_id"][:width]
        sql = f"INSERT INTO events ({', '.join(names)}) VALUES ({', '.join('?' * width)})"
        started = time.perf_counter()
        for start in range(0, len(rows), 100):
            conn.execute("BEGIN")
            conn.executemany(sql, [row[:width] for row in rows[start : start + 100]])
            conn.execute("COMMIT")
        return len(rows) / (time.perf_counter() - started)
    finally:
        conn.close()


def raw(count: int, runs: int) -> None:
    import json

    rows = []
    for n in range(count):
        correlation, cause = f"corr-{n // 10}", str(uuid.uuid4())
        body: list[Any] = [
            str(uuid.uuid4()),
            "Happened",
            {"n": n, "note": "x" * 80},
            {},
            f"s-{n % 800}",
        ]
        body += [n // 800 + 1, n + 1, "2026-01-01T00:00:00Z", correlation, cause, 1]
        row = (n + 1, uuid.uuid4().bytes, f"s-{n % 800}", n // 800 + 1, "Happened")
        rows.append((*row, json.dumps(body).encode(), correlation, cause))
    rates: dict[str, list[float]] = {"none": [], "expressions": [], "columns": []}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(runs):
            for kind, found in rates.items():
                found.append(_raw_rate(kind, rows, pathlib.Path(scratch)))
    print(f"sqlite: {count:,} rows, 100 per transaction, {runs} runs (median)")
    for kind, found in rates.items():
        print(f"  {kind:12} {statistics.median(found):10,.0f} rows/s")


def main(argv: list[str]) -> None:
    if argv[:1] == ["raw"]:
        raw(*([int(value) for value in argv[1:]] or [60_000, 3]))
        return
    backends = ("sqlite", "postgres")
    if len(argv) < 2 or argv[0] not in ("appends", "lookups") or argv[1] not in backends:
        sys.exit(__doc__)
    numbers = [int(value) for value in argv[2:]]
    if argv[0] == "appends":
        asyncio.run(appends(argv[1], *(numbers or [50_000, 3])))
    else:
        asyncio.run(lookups(argv[1], *(numbers or [20_000, 5])))


if __name__ == "__main__":
    main(sys.argv[1:])
