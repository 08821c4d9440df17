"""Creating, migrating and naming the PostgreSQL schema; URL options; ``factstream db migrate``."""

from __future__ import annotations

import asyncio
import pathlib
import sys
from typing import Any

import asyncpg
import pytest

import factstream as fs
from factstream.store.postgres import SCHEMA_VERSION, PostgresEventStore
from factstream.store.postgres.connection import settings_from_url
from tests.contract.harnesses import PostgresHarness

pytestmark = pytest.mark.postgres


async def _schema_objects(pg: PostgresHarness) -> dict[str, Any]:
    conn = await asyncpg.connect(pg.base_url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", pg.schema
        )
        versions = await conn.fetch(f'SELECT version FROM "{pg.schema}".migrations')
        return {"tables": sorted(r[0] for r in tables), "versions": [r[0] for r in versions]}
    finally:
        await conn.close()


async def test_connect_creates_the_schema_named_in_the_url(pg: PostgresHarness) -> None:
    async with fs.connect(pg.url) as store:
        assert isinstance(store, PostgresEventStore)
        await store.append("s", [fs.NewEvent("T", {})])
    objects = await _schema_objects(pg)
    assert objects["tables"] == ["events", "events_json", "migrations"]
    assert objects["versions"] == list(range(1, SCHEMA_VERSION + 1))


async def test_a_version_1_schema_gets_the_lookup_indexes_when_opened(
    pg: PostgresHarness,
) -> None:
    async with fs.connect(pg.url) as store:
        await store.append("s", [fs.NewEvent("T", {}, correlation_id="c", causation_id="k")])
    conn = await asyncpg.connect(pg.base_url)
    try:  # back to schema version 1, as an older factstream left it
        await conn.execute(f'DROP INDEX "{pg.schema}".events_correlation_id')
        await conn.execute(f'DROP INDEX "{pg.schema}".events_causation_id')
        await conn.execute(f'DELETE FROM "{pg.schema}".migrations WHERE version > 1')
    finally:
        await conn.close()
    async with fs.connect(pg.url) as store:
        assert [e.type for e in await store.events_by_correlation("c")] == ["T"]
        assert [e.type for e in await store.events_by_causation("k")] == ["T"]
        [info] = await store.list_streams()
        assert (info.stream_id, info.version) == ("s", 1)
    conn = await asyncpg.connect(pg.base_url)
    try:
        indexes = await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = $1", pg.schema
        )
    finally:
        await conn.close()
    assert {"events_correlation_id", "events_causation_id"} <= {r[0] for r in indexes}
    assert (await _schema_objects(pg))["versions"] == list(range(1, SCHEMA_VERSION + 1))


async def test_many_stores_opening_at_once_migrate_once(pg: PostgresHarness) -> None:
    stores = await asyncio.gather(*(pg.open() for _ in range(6)))
    try:
        await asyncio.gather(
            *(s.append(f"s-{n}", [fs.NewEvent("T", {})]) for n, s in enumerate(stores))
        )
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    assert (await _schema_objects(pg))["versions"] == list(range(1, SCHEMA_VERSION + 1))


async def test_processes_migrating_at_once_all_succeed(pg: PostgresHarness) -> None:
    code = (
        "import asyncio, sys, factstream as fs\n"
        "async def main():\n"
        "    async with fs.connect(sys.argv[1]):\n"
        "        pass\n"
        "asyncio.run(main())"
    )
    processes = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", code, pg.url) for _ in range(4)
    ]
    assert [await p.wait() for p in processes] == [0, 0, 0, 0]
    assert (await _schema_objects(pg))["versions"] == list(range(1, SCHEMA_VERSION + 1))


async def test_stores_in_different_schemas_are_separate(
    pg: PostgresHarness, tmp_path: pathlib.Path
) -> None:
    other = PostgresHarness(tmp_path)
    try:
        async with fs.connect(pg.url) as a, fs.connect(other.url) as b:
            await a.append("s", [fs.NewEvent("A", {})])
            assert await b.read("s") == []
            assert (await b.append("s", [fs.NewEvent("B", {})])).position == 1
    finally:
        await other.cleanup()


async def test_a_schema_from_a_newer_factstream_is_refused(pg: PostgresHarness) -> None:
    store = await pg.open()
    await store.close()
    conn = await asyncpg.connect(pg.base_url)
    try:
        await conn.execute(
            f'INSERT INTO "{pg.schema}".migrations (version, name) VALUES ($1, $2)',
            SCHEMA_VERSION + 1,
            "999_future.sql",
        )
    finally:
        await conn.close()
    with pytest.raises(RuntimeError, match="newer than this factstream"):
        await pg.open()


def test_url_options_are_ours_or_asyncpg_s() -> None:
    settings = settings_from_url(
        "postgresql://u@h:5/db?schema=bench_x&readers=2&poll_interval=0.1&sslmode=disable",
        reconnect_timeout=3,
    )
    assert settings.schema == "bench_x"
    assert (settings.readers, settings.poll_interval, settings.reconnect_timeout) == (2, 0.1, 3)
    assert settings.dsn == "postgresql://u@h:5/db?sslmode=disable"
    assert settings_from_url("postgres://u@h/db", schema="k").schema == "k"
    with pytest.raises(fs.UnsupportedUrl, match="readers"):
        settings_from_url("postgresql://u@h/db?readers=many")
    with pytest.raises(fs.UnsupportedUrl, match="option"):
        settings_from_url("postgresql://u@h/db", colour="blue")
    assert settings_from_url("postgresql://u@h/db").direct_appends is True
    assert settings_from_url("postgresql://u@h/db?direct_appends=off").direct_appends is False
    with pytest.raises(fs.UnsupportedUrl, match="direct_appends"):
        settings_from_url("postgresql://u@h/db?direct_appends=maybe")


async def test_an_unreachable_server_raises_store_unavailable() -> None:
    with pytest.raises(fs.StoreUnavailable, match="cannot connect"):
        await fs.connect("postgresql://postgres@127.0.0.1:1/test")


async def test_db_migrate_command(pg: PostgresHarness) -> None:
    base, schema = pg.base_url, pg.schema
    code = "import sys; from factstream.cli.main import main; sys.argv[0] = 'factstream'; main()"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, "db", "migrate", base, "--schema", schema,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode == 0
    assert f"schema '{schema}' is at version {SCHEMA_VERSION}" in out.decode()
    assert (await _schema_objects(pg))["versions"] == list(range(1, SCHEMA_VERSION + 1))
