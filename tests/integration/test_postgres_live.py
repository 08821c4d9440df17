"""Live delivery across stores (as across processes): LISTEN/NOTIFY wake-ups, not polling.

The watching store polls only once an hour here, so a test that passes was woken by a
notification; a broken wake-up path fails by timeout instead of passing slowly.
"""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

import factstream as fs
from factstream.store.base import StoreBase
from factstream.store.subscription import Subscription
from tests.contract.harnesses import PostgresHarness

pytestmark = pytest.mark.postgres

_HOUR = 3600.0


@pytest.fixture
async def pg(tmp_path: pathlib.Path) -> AsyncIterator[PostgresHarness]:
    harness = PostgresHarness(tmp_path)
    yield harness
    await harness.cleanup()


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


async def _listening(admin: asyncpg.Connection, schema: str) -> list[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'factstream-listener' "
        "AND query LIKE $1",
        f"LISTEN %{schema}%",
    )
    return [row[0] for row in rows]


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
