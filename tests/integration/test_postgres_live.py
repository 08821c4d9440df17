"""The store's sessions at work: live delivery across stores (as across processes) by
LISTEN/NOTIFY wake-ups, not polling, and reads of one round trip.

The watching store polls only once an hour here, so a test that passes was woken by a
notification; a broken wake-up path fails by timeout instead of passing slowly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

import factstream as fs
from factstream.store.base import StoreBase
from factstream.store.subscription import Subscription
from tests.contract.harnesses import PostgresHarness

pytestmark = pytest.mark.postgres

_HOUR = 3600.0


async def _next(events: Subscription, count: int) -> list[fs.RecordedEvent]:
    got = []
    async with asyncio.timeout(30):
        async for event in events:
            got.append(event)
            if len(got) == count:
                break
    return got


async def _open_pair(pg: PostgresHarness, notify_interval: float) -> tuple[StoreBase, StoreBase]:
    writer = await pg.open(notify_interval=notify_interval)
    watcher = await pg.open(poll_interval=_HOUR)
    return writer, watcher


async def test_commits_in_another_store_wake_subscribers(pg: PostgresHarness) -> None:
    # A long throttle interval: the second commit falls inside it and is announced at its end.
    writer, watcher = await _open_pair(pg, notify_interval=0.5)
    try:
        async with watcher.subscribe() as events:
            first = await writer.append("s", [fs.NewEvent("T", {"n": 0})])
            assert [e.position for e in await _next(events, 1)] == [first.position]
            await writer.append("s", [fs.NewEvent("T", {"n": 1})])
            await writer.append("s", [fs.NewEvent("T", {"n": 2})])
            assert [e.data["n"] for e in await _next(events, 2)] == [1, 2]
    finally:
        await watcher.close()
        await writer.close()


async def _sessions(admin: asyncpg.Connection, role: str, query: str) -> list[tuple[int, str]]:
    """(pid, last statement) of the store sessions of ``role`` whose last statement is like
    ``query`` (it names the test's schema, so other tests' sessions are left out)."""
    rows = await admin.fetch(
        "SELECT pid, query FROM pg_stat_activity WHERE application_name = $1 AND query LIKE $2",
        f"factstream-{role}",
        query,
    )
    return [(row[0], row[1]) for row in rows]


async def _listening(admin: asyncpg.Connection, schema: str) -> list[int]:
    return [pid for pid, _ in await _sessions(admin, "listener", f"LISTEN %{schema}%")]


async def test_the_listener_reconnects_after_losing_its_session(pg: PostgresHarness) -> None:
    writer, watcher = await _open_pair(pg, notify_interval=0.001)
    admin = await asyncpg.connect(pg.base_url)
    try:
        async with watcher.subscribe() as events:
            waiting = asyncio.create_task(_next(events, 2))
            async with asyncio.timeout(30):
                while not (pids := await _listening(admin, pg.schema)):  # noqa: ASYNC110 - server state
                    await asyncio.sleep(0.01)
            await writer.append("s", [fs.NewEvent("T", {"n": 0})])
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pids[0])
            await writer.append("s", [fs.NewEvent("T", {"n": 1})])
            assert [e.data["n"] for e in await waiting] == [0, 1]
            async with asyncio.timeout(30):
                while not await _listening(admin, pg.schema):  # noqa: ASYNC110 - server state
                    await asyncio.sleep(0.01)
    finally:
        await admin.close()
        await watcher.close()
        await writer.close()


@contextlib.asynccontextmanager
async def _one_reader(pg: PostgresHarness) -> AsyncIterator[tuple[StoreBase, asyncpg.Connection]]:
    """A store with one pooled reader and one event in stream ``s``, and an admin session."""
    store = await pg.open(readers=1)
    admin = await asyncpg.connect(pg.base_url)
    try:
        await store.append("s", [fs.NewEvent("T", {"n": 0})])
        yield store, admin
    finally:
        await admin.close()
        await store.close()


async def test_a_read_is_one_statement_with_no_reset_after_it(pg: PostgresHarness) -> None:
    async with _one_reader(pg) as (store, admin):
        assert [e.data for e in await store.read("s")] == [{"n": 0}]
        # The reader's last statement is the read itself: asyncpg's reset statement
        # (RESET ALL; UNLISTEN * ...) did not follow it. That statement does not name the
        # schema, so it would leave this list empty.
        [(_, last)] = await _sessions(admin, "reader", f"%{pg.schema}%")
        assert "WHERE stream_id = $1" in last
        # The connection stays usable read after read.
        for n in range(1, 4):
            await store.append("s", [fs.NewEvent("T", {"n": n})], expected_version=n)
            assert len(await store.read("s")) == n + 1


async def test_a_cancelled_read_leaves_its_pooled_connection_usable(pg: PostgresHarness) -> None:
    async with _one_reader(pg) as (store, admin):
        # Hold a lock that makes the read wait, cancel the read while it waits, let go.
        locker = admin.transaction()
        await locker.start()
        await admin.execute(f'LOCK TABLE "{pg.schema}".events IN ACCESS EXCLUSIVE MODE')
        read = asyncio.create_task(store.read("s"))
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'factstream-reader' "
            "AND wait_event_type = 'Lock' AND query LIKE $1"
        )
        async with asyncio.timeout(30):
            while not await admin.fetchval(waiting, f"%{pg.schema}%"):  # noqa: ASYNC110 - server state
                await asyncio.sleep(0.01)
        read.cancel()
        with pytest.raises(asyncio.CancelledError):
            await read
        await locker.rollback()
        # The one pooled connection serves the next reads, with nothing left of the cancelled one.
        for n in range(1, 3):
            await store.append("s", [fs.NewEvent("T", {"n": n})], expected_version=n)
            assert [e.data["n"] for e in await store.read("s")] == list(range(n + 1))
