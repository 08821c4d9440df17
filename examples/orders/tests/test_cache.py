"""The Redis cache of get_order: hits, invalidation by the projection, no stale write-back."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from tests.services import require

from examples.orders.cache import OrderCache
from examples.orders.commands import AddItem, CreateOrder
from examples.orders.compose import OrdersSettings, OrdersSystem
from examples.orders.queries import GetOrder
from examples.orders.views import OrderView

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def cache() -> AsyncIterator[OrderCache]:
    require("Redis", "127.0.0.1", 6379)
    made = OrderCache.from_url(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:")
    yield made
    await made.clear()
    await made.close()


def _view(position: int, status: str = "open") -> OrderView:
    return OrderView(
        "o1", "ada", "EUR", status, Decimal("1.00"), 1, "t0", "t1", 2, position, None, ()
    )


async def test_an_older_answer_never_replaces_a_newer_one(cache: OrderCache) -> None:
    assert await cache.put(_view(5))
    assert not await cache.put(_view(4))
    assert await cache.get("o1") == _view(5)
    await cache.invalidate({"o1": 7})  # the projection applied position 7
    assert await cache.get("o1") is None
    assert not await cache.put(_view(6, "confirmed"))  # read before 7 committed: refused
    assert await cache.get("o1") is None
    assert await cache.put(_view(7, "confirmed"))
    assert await cache.get("o1") == _view(7, "confirmed")
    await cache.invalidate({"o1": 7})  # a late invalidation of what the view already shows
    assert await cache.get("o1") == _view(7, "confirmed")


async def test_an_entry_below_the_requested_position_is_a_miss(cache: OrderCache) -> None:
    await cache.put(_view(5))
    assert await cache.get("o1", after=5) == _view(5)
    assert await cache.get("o1", after=6) is None


async def test_the_system_serves_orders_through_the_cache(tmp_path: pathlib.Path) -> None:
    require("Redis", "127.0.0.1", 6379)
    settings = OrdersSettings(
        store_url=f"sqlite:///{tmp_path / 'events.db'}",
        redis_url=REDIS_URL,
        redis_prefix=f"test:{uuid.uuid4().hex}:",
        heartbeat_interval=None,
        saga=False,
    )
    async with await OrdersSystem.open(settings) as system:
        assert system.cache is not None
        try:
            created = await system.commands.dispatch(CreateOrder("o1", "ada"))
            assert created is not None
            first = await system.queries.ask(GetOrder("o1", after=created.position))
            assert first is not None
            assert await system.queries.ask(GetOrder("o1")) == first
            assert system.cache.hits == 1
            added = await system.commands.dispatch(AddItem("o1", "tea", 2, Decimal("1.50")))
            assert added is not None
            after = await system.queries.ask(GetOrder("o1", after=added.position))
            assert after is not None
            assert (after.total, after.units) == (Decimal("3.00"), 2)
            assert await system.queries.ask(GetOrder("o1")) == after
        finally:
            await system.cache.clear()
