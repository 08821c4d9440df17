"""The PostgreSQL ceiling: asyncpg on a table shaped like an event log, nothing around it.

One connection, server defaults (``synchronous_commit=on``). Data is encoded with msgspec and
stored as ``jsonb``. (b) reports three ways of writing a 100-row transaction: one
``INSERT ... SELECT FROM unnest(...)`` (the headline figure), ``executemany`` and ``COPY``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec

from .payload import EVENT_TYPE, payload
from .sizes import Sizes
from .targets import Target
from .timing import latency_summary

Result = dict[str, Any]

_encode = msgspec.json.encode
_decode = msgspec.json.decode

_DDL = """
CREATE TABLE events (
    position    bigint PRIMARY KEY,
    id          uuid NOT NULL UNIQUE,
    stream_id   text NOT NULL,
    version     bigint NOT NULL,
    type        text NOT NULL,
    data        jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)
)
"""
_INSERT_ONE = (
    "INSERT INTO events (position, id, stream_id, version, type, data) "
    "VALUES ($1, $2, $3, $4, $5, $6::jsonb)"
)
_INSERT_UNNEST = (
    "INSERT INTO events (position, id, stream_id, version, type, data) "
    "SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], "
    "$6::jsonb[])"
)
_COLUMNS = ("position", "id", "stream_id", "version", "type", "data")

Row = tuple[int, uuid.UUID, str, int, str, str]


async def _connect(target: Target, create: bool) -> asyncpg.Connection:
    conn = await asyncpg.connect(
        target.pg_conninfo(), server_settings={"search_path": target.schema}
    )
    if create:
        await conn.execute(_DDL)
    return conn


#: Increasing ids, like factstream's time-ordered UUIDv7 (kind to the unique index).
_ID_BASE = time.time_ns() << 64


def _row(position: int, stream_id: str, version: int, seq: int) -> Row:
    event_id = uuid.UUID(int=_ID_BASE + position)
    return (position, event_id, stream_id, version, EVENT_TYPE, _encode(payload(seq)).decode())


async def single_rows(target: Target, sizes: Sizes) -> Result:
    """(a) One row per transaction (autocommit INSERT)."""
    conn = await _connect(target, create=True)
    insert = await conn.prepare(_INSERT_ONE)
    n = sizes.single_appends
    stamps = [time.perf_counter()]
    for i in range(n):
        await insert.fetch(*_row(i + 1, "order-1", i + 1, i))
        stamps.append(time.perf_counter())
    await conn.close()
    return {"events_per_s": n / (stamps[-1] - stamps[0]), "events": n, **latency_summary(stamps)}


Writer = Callable[[asyncpg.Connection, list[Row]], Awaitable[object]]


async def _unnest(conn: asyncpg.Connection, rows: list[Row]) -> None:
    await conn.execute(_INSERT_UNNEST, *[list(column) for column in zip(*rows, strict=True)])


async def _executemany(conn: asyncpg.Connection, rows: list[Row]) -> None:
    await conn.executemany(_INSERT_ONE, rows)


async def _copy(conn: asyncpg.Connection, rows: list[Row]) -> None:
    await conn.copy_records_to_table("events", records=rows, columns=_COLUMNS)


async def _write_batches(
    conn: asyncpg.Connection, write: Writer, events: int, batch: int, one_stream: bool
) -> None:
    for i in range(events // batch):
        stream = "order-1" if one_stream else f"order-{i}"
        base = i * batch
        rows = [
            _row(base + j + 1, stream, (base if one_stream else 0) + j + 1, base + j)
            for j in range(batch)
        ]
        async with conn.transaction():
            await write(conn, rows)


async def batch_rows(target: Target, sizes: Sizes) -> Result:
    """(b) ``batch_size`` rows per transaction: unnest, then executemany, then COPY."""
    conn = await _connect(target, create=True)
    n = sizes.batch_events // sizes.batch_size * sizes.batch_size
    rates: dict[str, float] = {}
    for name, write in (("unnest", _unnest), ("executemany", _executemany), ("copy", _copy)):
        await conn.execute("TRUNCATE events")
        start = time.perf_counter()
        await _write_batches(conn, write, n, sizes.batch_size, one_stream=True)
        rates[name] = n / (time.perf_counter() - start)
    await conn.close()
    return {
        "events_per_s": rates["unnest"],
        "executemany_events_per_s": rates["executemany"],
        "copy_events_per_s": rates["copy"],
        "events": n,
    }


async def select_all(target: Target, sizes: Sizes) -> Result:
    """(e) Every row in position order, pages of ``read_page``, ``data`` decoded."""
    conn = await _connect(target, create=False)
    # jsonb arrives as text; decode it ourselves with msgspec, as a store would.
    query = await conn.prepare(
        "SELECT position, id, stream_id, version, type, data::text, recorded_at FROM events "
        "WHERE position >= $1 ORDER BY position LIMIT $2"
    )
    page = sizes.read_page
    count = 0
    total = 0
    start = time.perf_counter()
    position = 1
    while True:
        rows = await query.fetch(position, page)
        for row in rows:
            total += _decode(row[5])["seq"]
        count += len(rows)
        if len(rows) < page:
            break
        position = rows[-1][0] + 1
    elapsed = time.perf_counter() - start
    await conn.close()
    return {"events_per_s": count / elapsed, "events": count, "checksum": total}


async def _prepare(target: Target, sizes: Sizes) -> Result:
    conn = await _connect(target, create=True)
    await _write_batches(conn, _unnest, sizes.read_events, sizes.read_batch, one_stream=False)
    await conn.close()
    return {}


_SCENARIOS = {"a": single_rows, "b": batch_rows, "e": select_all}


async def _measure(scenario: str, target: Target, sizes: Sizes, prepared: bool) -> Result:
    if scenario == "e" and not prepared:
        await _prepare(target, sizes)
    return await _SCENARIOS[scenario](target, sizes)


def measure(scenario: str, target: Target, sizes: Sizes, prepared: bool = False) -> Result:
    return asyncio.run(_measure(scenario, target, sizes, prepared))


def prepare(target: Target, sizes: Sizes) -> Result:
    return asyncio.run(_prepare(target, sizes))
