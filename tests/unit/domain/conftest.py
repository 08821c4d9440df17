from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import pytest

from factstream import EventRegistry, EventStore, MemoryEventStore, Repository, connect
from factstream.testing.plugin import command_bus, event_registry, memory_store, query_bus

from .orders import Order, order_registry

__all__ = ["command_bus", "event_registry", "memory_store", "query_bus"]  # fixtures, re-exported


@pytest.fixture(params=["memory", "sqlite"])
async def store(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[EventStore]:
    """Each test that uses it runs on the memory store and on a real SQLite file."""
    if request.param == "memory":
        opened: EventStore = MemoryEventStore()
    else:
        opened = await connect(f"sqlite:///{tmp_path / 'events.db'}")
    yield opened
    await opened.close()


@pytest.fixture
def registry() -> EventRegistry:
    return order_registry()


@pytest.fixture
def orders(store: EventStore, registry: EventRegistry) -> Repository[Order]:
    return Repository(store, registry, Order)
