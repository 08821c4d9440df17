"""The ceiling: Python's ``sqlite3`` on factstream's own table, with nothing around it.

Same file settings as the store (WAL, ``synchronous=FULL``), same table and indexes (the DDL is
read from the installed factstream package), each row's ``body`` a JSON array of the event's
fields made with one msgspec call, as the store stores it. No version check, no threads, no
asyncio. Reading decodes each ``body`` (untyped) and touches ``data``.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import msgspec

from factstream.sqlscripts import numbered_scripts, split_statements

from .payload import EVENT_TYPE, payload
from .sizes import Sizes
from .targets import Target
from .timing import latency_summary

Result = dict[str, Any]

_INSERT = "INSERT INTO events (position, id, stream_id, version, type, body) VALUES (?,?,?,?,?,?)"
_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _ddl() -> list[str]:
    """The events table as factstream's first migration creates it (no lookup columns)."""
    [(_, _, script), *_] = numbered_scripts("factstream.store.sqlite", "sql")
    return split_statements(script)


def _connect(target: Target, create: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(target.path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    if create:
        for statement in _ddl():
            conn.execute(statement)
    return conn


#: Event ids: increasing 16-byte values, like factstream's time-ordered UUIDv7 (random ids
#: would scatter inserts over the unique index on ``id`` and halve the batch ceiling).
_ID_BASE = time.time_ns() << 64


def _row(position: int, stream_id: str, version: int, seq: int) -> tuple[Any, ...]:
    event_id = (_ID_BASE + position).to_bytes(16, "big")
    body = _encode(
        (
            event_id.hex(),
            EVENT_TYPE,
            payload(seq),
            {},
            stream_id,
            version,
            position,
            time.time_ns() // 1000,
            None,
            None,
            1,
        )
    )
    return (position, event_id, stream_id, version, EVENT_TYPE, body)


def single_rows(target: Target, sizes: Sizes) -> Result:
    """(a) One row per transaction."""
    conn = _connect(target, create=True)
    n = sizes.single_appends
    stamps = [time.perf_counter()]
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_INSERT, _row(i + 1, "order-1", i + 1, i))
        conn.execute("COMMIT")
        stamps.append(time.perf_counter())
    conn.close()
    return {"events_per_s": n / (stamps[-1] - stamps[0]), "events": n, **latency_summary(stamps)}


def _write_batches(conn: sqlite3.Connection, events: int, batch: int, one_stream: bool) -> None:
    for i in range(events // batch):
        stream = "order-1" if one_stream else f"order-{i}"
        base = i * batch
        rows = [
            _row(base + j + 1, stream, (base if one_stream else 0) + j + 1, base + j)
            for j in range(batch)
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, rows)
        conn.execute("COMMIT")


def batch_rows(target: Target, sizes: Sizes) -> Result:
    """(b) ``batch_size`` rows per transaction with ``executemany``."""
    conn = _connect(target, create=True)
    n = sizes.batch_events // sizes.batch_size * sizes.batch_size
    start = time.perf_counter()
    _write_batches(conn, n, sizes.batch_size, one_stream=True)
    elapsed = time.perf_counter() - start
    conn.close()
    return {"events_per_s": n / elapsed, "events": n}


def select_all(target: Target, sizes: Sizes) -> Result:
    """(e) Every row in position order, pages of ``read_page``, ``data`` decoded."""
    conn = _connect(target, create=False)
    page = sizes.read_page
    count = 0
    total = 0
    start = time.perf_counter()
    position = 1
    while True:
        rows = conn.execute(
            "SELECT position, body FROM events WHERE position >= ? ORDER BY position LIMIT ?",
            (position, page),
        ).fetchall()
        for row in rows:
            total += _decode(row[1])[2]["seq"]
        count += len(rows)
        if len(rows) < page:
            break
        position = rows[-1][0] + 1
    elapsed = time.perf_counter() - start
    conn.close()
    return {"events_per_s": count / elapsed, "events": count, "checksum": total}


def prepare(target: Target, sizes: Sizes) -> Result:
    conn = _connect(target, create=True)
    _write_batches(conn, sizes.read_events, sizes.read_batch, one_stream=False)
    conn.close()
    return {}


_SCENARIOS = {"a": single_rows, "b": batch_rows, "e": select_all}


def measure(scenario: str, target: Target, sizes: Sizes, prepared: bool = False) -> Result:
    if scenario == "e" and not prepared:
        prepare(target, sizes)
    return _SCENARIOS[scenario](target, sizes)
