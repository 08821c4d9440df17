"""One harness per backend; the contract tests are parametrised over ``HARNESSES``."""

from __future__ import annotations

import itertools
import pathlib
from collections.abc import Callable
from typing import Any

from factstream.store.base import StoreBase
from factstream.store.memory import MemoryEventStore
from factstream.store.sqlite import SqliteEventStore
from factstream.testing.contracts import StoreHarness


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


# name -> factory(tmp_path) -> harness; the PostgreSQL harness registers itself in its module.
HARNESSES: dict[str, Callable[[pathlib.Path], StoreHarness]] = {
    "memory": lambda _tmp: MemoryHarness(),
    "sqlite": SqliteHarness,
}
SHARED = ["sqlite"]
