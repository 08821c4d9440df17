"""One harness per backend; the contract tests are parametrised over ``HARNESSES``."""

from __future__ import annotations

import itertools
import pathlib
import uuid
from collections.abc import Callable
from typing import Any

from factstream.store.base import StoreBase
from factstream.store.memory import MemoryEventStore
from factstream.store.sqlite import SqliteEventStore
from factstream.testing.contracts import StoreHarness
from tests import services


class MemoryHarness(StoreHarness):
    name = "memory"
    persistent = False
    url = None

    async def open(self, **options: Any) -> StoreBase:
        return await MemoryEventStore.open(**options)


class SqliteHarness(StoreHarness):
    name = "sqlite"
    persistent = True
    _counter = itertools.count()

    def __init__(self, folder: pathlib.Path) -> None:
        self.path = folder / f"events-{next(self._counter)}.db"
        self.url = f"sqlite:///{self.path}"

    async def open(self, **options: Any) -> StoreBase:
        return await SqliteEventStore.open(self.path, **options)


class PostgresHarness(StoreHarness):
    """A fresh schema per test in the shared server's ``test`` database, dropped afterwards."""

    name = "postgres"
    persistent = True
    url: str

    def __init__(self, _folder: pathlib.Path) -> None:
        services.require("PostgreSQL", "127.0.0.1", 5432)
        self.base_url = services.POSTGRES_URL
        self.schema = f"t_{uuid.uuid4().hex}"
        self.url = f"{self.base_url}?schema={self.schema}"

    async def open(self, **options: Any) -> StoreBase:
        from factstream.store.postgres import PostgresEventStore

        return await PostgresEventStore.open(self.base_url, schema=self.schema, **options)

    async def cleanup(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.base_url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            await conn.close()


# name -> factory(tmp_path) -> harness; the PostgreSQL harness registers itself in its module.
HARNESSES: dict[str, Callable[[pathlib.Path], StoreHarness]] = {
    "memory": lambda _tmp: MemoryHarness(),
    "sqlite": SqliteHarness,
    "postgres": PostgresHarness,
}
SHARED = ["sqlite"]
SHARED.append("postgres")
