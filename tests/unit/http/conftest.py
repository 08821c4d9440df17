from __future__ import annotations

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
