from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from litestar import Litestar

import factstream as fs
from factstream.http import HttpSettings, create_app

from .support import PROBLEM_TYPES, CounterModel, counter_endpoints


@pytest.fixture
async def store(tmp_path: pathlib.Path) -> AsyncIterator[fs.EventStore]:
    async with fs.connect(f"sqlite:///{tmp_path}/http.db") as opened:
        yield opened
        await _watcher_finished(opened)


async def _watcher_finished(store: fs.EventStore) -> None:
    # Work-around for a store bug (reported): closing a SqliteEventStore cancels its
    # cross-process watcher, whose `finally` closes the watcher's connection while a cancelled
    # `asyncio.to_thread` query may still be running on it, which can crash the process
    # (SIGSEGV). Once every subscription has ended the watcher stops by itself within one poll
    # interval; let it, before the store is closed.
    watcher = getattr(store, "_watcher", None)
    if watcher is not None:
        async with asyncio.timeout(10):
            await asyncio.shield(watcher)


@pytest.fixture
async def model(store: fs.EventStore) -> AsyncIterator[CounterModel]:
    async with CounterModel(store) as running_model:
        yield running_model


AppFactory = Callable[..., Litestar]


@pytest.fixture
def make_app(store: fs.EventStore, model: CounterModel) -> AppFactory:
    def make(settings: HttpSettings | None = None, **options: Any) -> Litestar:
        options.setdefault("endpoints", counter_endpoints(store, model))
        options.setdefault("problem_types", PROBLEM_TYPES)
        return create_app(settings or HttpSettings(), store, **options)

    return make
