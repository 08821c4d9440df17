"""Read-model targets for the projection tests: a SQLite file, and a fresh PostgreSQL schema."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import AsyncIterator

import pytest

import factstream as fs
from factstream.projections import PostgresTarget, SqliteTarget, SqlTarget
from tests.services import POSTGRES_URL, require


@pytest.fixture
async def store() -> AsyncIterator[fs.EventStore]:
    async with fs.connect("memory://") as opened:
        yield opened


async def _drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
async def postgres_target() -> AsyncIterator[PostgresTarget]:
    require("PostgreSQL", "127.0.0.1", 5432)
    schema = f"fs_read_{uuid.uuid4().hex[:12]}"
    yield PostgresTarget(POSTGRES_URL, schema)
    await _drop_schema(schema)


@pytest.fixture
def sqlite_target(tmp_path: pathlib.Path) -> SqliteTarget:
    return SqliteTarget(tmp_path / "readmodels.db")


@pytest.fixture(params=["sqlite", "postgres"])
async def target(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[SqlTarget]:
    if request.param == "sqlite":
        yield SqliteTarget(tmp_path / "readmodels.db")
        return
    require("PostgreSQL", "127.0.0.1", 5432)
    schema = f"fs_read_{uuid.uuid4().hex[:12]}"
    yield PostgresTarget(POSTGRES_URL, schema)
    await _drop_schema(schema)
