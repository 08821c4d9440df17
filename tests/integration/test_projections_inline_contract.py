"""The event store contract, run against SQLite and PostgreSQL stores with an inline
projection: the writers' paths with the projection's hook keep every promise."""

from __future__ import annotations

import itertools
import pathlib
from collections.abc import Sequence
from typing import Any

import pytest

import factstream as fs
from factstream.projections import Projection, SqlTransaction
from factstream.store.base import StoreBase
from factstream.testing.contracts import EventStoreContract, StoreHarness
from tests.contract.harnesses import PostgresHarness


class EveryEvent(Projection[SqlTransaction]):
    """Writes a row per event, keyed by position: a repeat would fail the append."""

    name = "every_event"
    tables = {  # noqa: RUF012
        "seen": "CREATE TABLE {seen} (position BIGINT PRIMARY KEY, stream_id TEXT NOT NULL)"
    }
    event_types = None

    async def apply(self, events: Sequence[fs.RecordedEvent], tx: SqlTransaction) -> None:
        tx.executemany(
            "INSERT INTO {seen} (position, stream_id) VALUES (?, ?)",
            [(e.position, e.stream_id) for e in events],
        )


class InlineSqliteHarness(StoreHarness):
    name = "sqlite-inline"
    persistent = True
    _counter = itertools.count()

    def __init__(self, folder: pathlib.Path) -> None:
        self.path = folder / f"inline-{next(self._counter)}.db"
        self.url = f"sqlite:///{self.path}"

    async def open(self, **options: Any) -> StoreBase:
        return await fs.connect(f"sqlite:///{self.path}", inline=[EveryEvent()], **options)


class TestInlineSqliteStore(EventStoreContract):
    @pytest.fixture
    def harness(self, tmp_path: pathlib.Path) -> StoreHarness:
        return InlineSqliteHarness(tmp_path)


class InlinePostgresHarness(PostgresHarness):
    name = "postgres-inline"

    async def open(self, **options: Any) -> StoreBase:
        return await fs.connect(self.url, inline=[EveryEvent()], **options)


class TestInlinePostgresStore(EventStoreContract):
    @pytest.fixture
    async def harness(self, tmp_path: pathlib.Path) -> Any:
        harness = InlinePostgresHarness(tmp_path)
        yield harness
        await harness.cleanup()
