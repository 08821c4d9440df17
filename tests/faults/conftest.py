from __future__ import annotations

import pathlib
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.services import POSTGRES_URL, require


@pytest.fixture(params=["sqlite", "postgres"])
async def target_spec(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[str]:
    """A read-model target for a projection worker process (see projection_worker.parse_target):
    a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'readmodels.db'}"
        return
    require("PostgreSQL", "127.0.0.1", 5432)
    import asyncpg

    schema = f"fs_fault_{uuid.uuid4().hex[:12]}"
    yield f"postgres:{POSTGRES_URL}#{schema}"
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
