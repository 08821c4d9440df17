"""pytest fixtures for factstream applications.

Enable them in your top-level ``conftest.py``::

    pytest_plugins = ["factstream.testing.plugin"]

The async fixtures need pytest-asyncio.
"""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from ..domain import CommandBus, QueryBus
from ..schema import EventRegistry
from ..store import MemoryEventStore, StoreBase, connect

__all__ = ["command_bus", "event_registry", "memory_store", "query_bus", "sqlite_store"]


@pytest_asyncio.fixture
async def memory_store() -> AsyncIterator[MemoryEventStore]:
    """A new, empty in-memory event store, closed after the test."""
    store = MemoryEventStore()
    yield store
    await store.close()


@pytest_asyncio.fixture
async def sqlite_store(tmp_path: pathlib.Path) -> AsyncIterator[StoreBase]:
    """A new SQLite event store in the test's temporary folder, closed after the test."""
    store = await connect(f"sqlite:///{tmp_path / 'events.db'}")
    yield store
    await store.close()


@pytest.fixture
def event_registry() -> EventRegistry:
    """A new, empty event registry."""
    return EventRegistry()


@pytest.fixture
def command_bus() -> CommandBus:
    """A new command bus without handlers."""
    return CommandBus()


@pytest.fixture
def query_bus() -> QueryBus:
    """A new query bus without handlers."""
    return QueryBus()
