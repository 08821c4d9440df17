"""Fixtures of the orders example's tests; the suite-wide loop hygiene applies here too."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import AsyncIterator

import pytest
from tests.conftest import _fail_on_loop_errors, _loop_exception_guard
from tests.services import POSTGRES_URL, require

import factstream as fs
from examples.orders.domain import registry as build_registry
from examples.orders.handlers import Repositories, register_handlers

__all__ = ["_fail_on_loop_errors", "_loop_exception_guard"]


@pytest.fixture
def registry() -> fs.EventRegistry:
    return build_registry()


@pytest.fixture
async def store() -> AsyncIterator[fs.EventStore]:
    async with fs.connect("memory://") as opened:
        yield opened


@pytest.fixture
def repositories(store: fs.EventStore, registry: fs.EventRegistry) -> Repositories:
    return Repositories.over(store, registry, snapshot_every=5)


@pytest.fixture
def bus(repositories: Repositories) -> fs.CommandBus:
    commands = fs.CommandBus(max_attempts=10)
    register_handlers(commands, repositories)
    return commands


async def _drop_schemas(*schemas: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        for schema in schemas:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[str]:
    """A fresh store for a whole orders system: a SQLite file, or new PostgreSQL schemas
    (the store's, ``<schema>_read`` and ``<schema>_streaming``), dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}"
        return
    require("PostgreSQL", "127.0.0.1", 5432)
    schema = f"orders_{uuid.uuid4().hex[:12]}"
    yield f"{POSTGRES_URL}?schema={schema}"
    await _drop_schemas(schema, f"{schema}_read", f"{schema}_streaming")
