"""Reads through the PostgreSQL store's reader pool: one round trip each."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

import factstream as fs
from tests.contract.harnesses import PostgresHarness

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg(tmp_path: pathlib.Path) -> AsyncIterator[PostgresHarness]:
    harness = PostgresHarness(tmp_path)
    yield harness
    await harness.cleanup()


async def _last_statements(admin: asyncpg.Connection, schema: str) -> list[str]:
    """The last statement of each of this store's pooled readers (their own SQL names the
    schema; any other store's readers are left out)."""
    rows = await admin.fetch(
        "SELECT query FROM pg_stat_activity "
        "WHERE application_name = 'factstream-reader' AND query LIKE $1",
        f"%{schema}%",
    )
    return [row[0] for row in rows]


async def test_a_read_is_one_statement_with_no_reset_after_it(pg: PostgresHarness) -> None:
    store = await pg.open(readers=1)
    admin = await asyncpg.connect(pg.base_url)
    try:
        await store.append("s", [fs.NewEvent("T", {"n": 0})])
        assert [e.data for e in await store.read("s")] == [{"n": 0}]
        # The reader's last statement is the read itself: asyncpg's reset statement
        # (RESET ALL; UNLISTEN * ...) did not follow it. That statement does not name the
        # schema, so it would leave this list empty.
        [last] = await _last_statements(admin, pg.schema)
        assert "WHERE stream_id = $1" in last
        # The connection stays usable read after read.
        for n in range(1, 4):
            await store.append("s", [fs.NewEvent("T", {"n": n})], expected_version=n)
            assert len(await store.read("s")) == n + 1
    finally:
        await admin.close()
        await store.close()
