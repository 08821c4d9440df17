"""A lone append runs on the writer's connection from the caller's task (``direct_appends``).

Each test holds the caller's statement on the server (another session holds a lock on the
events table that an INSERT waits for), then does something to it meanwhile: more appends
arrive, the session is killed, the caller is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

import factstream as fs
from factstream.store.base import StoreBase
from tests.contract.harnesses import PostgresHarness

pytestmark = pytest.mark.postgres


@contextlib.asynccontextmanager
async def _inserts_held(pg: PostgresHarness) -> AsyncIterator[asyncpg.Connection]:
    """Inserts into the store's events wait while this block runs (SHARE conflicts with them)."""
    conn = await asyncpg.connect(pg.base_url)
    try:
        async with conn.transaction():
            await conn.execute(f'LOCK TABLE "{pg.schema}".events IN SHARE MODE')
            yield conn
    finally:
        await conn.close()


async def _writer_waits(admin: asyncpg.Connection, pg: PostgresHarness) -> int:
    """The pid of the store's writer session, once it waits for the lock (no sleeps to guess)."""
    while True:
        pid = await admin.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'factstream-writer' "
            "AND wait_event_type = 'Lock' AND query LIKE $1",
            f"%{pg.schema}%",
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.01)


async def _log(store: StoreBase) -> list[tuple[int, str, int]]:
    return [(e.position, e.stream_id, e.version) async for e in store.read_all()]


async def _turns(count: int) -> None:
    """Let every ready task run up to its next wait (no I/O is involved, so this is exact)."""
    for _ in range(count):
        await asyncio.sleep(0)


@pytest.mark.parametrize("direct", [True, False])
async def test_appends_arriving_while_a_lone_append_runs_commit_as_one_group(
    pg: PostgresHarness, direct: bool
) -> None:
    store = await pg.open(direct_appends=direct)
    admin = await asyncpg.connect(pg.base_url)
    try:
        async with _inserts_held(pg):
            lone = asyncio.create_task(store.append("lone", [fs.NewEvent("T", {"n": 0})]))
            await _writer_waits(admin, pg)
            others = [
                asyncio.create_task(store.append(f"s-{i}", [fs.NewEvent("T", {"n": i})], 0))
                for i in range(20)
            ]
            await _turns(3)
            assert not lone.done()
            assert not any(task.done() for task in others)
        first = await lone
        results = await asyncio.gather(*others)
        assert first.position == 1
        assert sorted(r.position for r in results) == list(range(2, 22))
        assert all(r.version == 1 for r in results)
        log = await _log(store)
        assert [position for position, _, _ in log] == list(range(1, 22))
        # The lone append's transaction, then one for the 20 that queued behind it.
        transactions = await admin.fetchval(
            f'SELECT count(DISTINCT xmin::text) FROM "{pg.schema}".events'
        )
        assert transactions == 2
    finally:
        await admin.close()
        await store.close()


async def test_a_lone_append_whose_session_is_killed_is_retried_whole(
    pg: PostgresHarness,
) -> None:
    store = await pg.open()
    admin = await asyncpg.connect(pg.base_url)
    try:
        async with _inserts_held(pg):
            append = asyncio.create_task(store.append("s", [fs.NewEvent("T", {"n": 1})]))
            pid = await _writer_waits(admin, pg)
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        result = await append
        assert (result.position, result.version) == (1, 1)
        # Killed while idle: the next lone append finds out and goes again on a new session.
        pid = await admin.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'factstream-writer' "
            "AND query LIKE $1",
            f"%{pg.schema}%",
        )
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        again = await store.append("s", [fs.NewEvent("T", {"n": 2})], expected_version=1)
        assert (again.position, again.version) == (2, 2)
        assert await _log(store) == [(1, "s", 1), (2, "s", 2)]
    finally:
        await admin.close()
        await store.close()


async def test_a_cancelled_lone_append_leaves_no_transaction_and_the_next_one_runs(
    pg: PostgresHarness,
) -> None:
    store = await pg.open()
    admin = await asyncpg.connect(pg.base_url)
    try:
        async with store.subscribe() as events:
            async with _inserts_held(pg):
                append = asyncio.create_task(store.append("s", [fs.NewEvent("T", {"n": 1})]))
                pid = await _writer_waits(admin, pg)
                append.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await append
            # The server cancelled the statement while it waited: nothing stored, and the
            # session is not left inside a transaction.
            state = None
            while state != "idle":
                state = await admin.fetchval(
                    "SELECT state FROM pg_stat_activity WHERE pid = $1", pid
                )
                assert state in ("active", "idle"), state
                await asyncio.sleep(0.01)
            result = await store.append("s", [fs.NewEvent("T", {"n": 2})], expected_version=0)
            assert (result.position, result.version) == (1, 1)
            got = []
            async with asyncio.timeout(30):
                async for event in events:
                    got.append((event.position, event.data))
                    break
            assert got == [(1, {"n": 2})]
        assert await _log(store) == [(1, "s", 1)]
    finally:
        await admin.close()
        await store.close()


async def test_appends_of_one_turn_commit_together_once_appends_have_queued(
    pg: PostgresHarness,
) -> None:
    store = await pg.open()
    admin = await asyncpg.connect(pg.base_url)
    try:
        # A burst from several tasks: the first runs alone, the others queue behind it.
        await asyncio.gather(
            *(store.append(f"a-{i}", [fs.NewEvent("T", {"n": i})], 0) for i in range(10))
        )
        # Since appends queued, the first of a burst yields its turn and joins the others.
        results = await asyncio.gather(
            *(store.append(f"b-{i}", [fs.NewEvent("T", {"n": i})], 0) for i in range(20))
        )
        assert sorted(r.position for r in results) == list(range(11, 31))
        transactions = await admin.fetchval(
            f'SELECT count(DISTINCT xmin::text) FROM "{pg.schema}".events '
            "WHERE stream_id LIKE 'b-%'"
        )
        assert transactions == 1
    finally:
        await admin.close()
        await store.close()
