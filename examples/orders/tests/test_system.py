"""The whole orders system on a real database (SQLite file, PostgreSQL schemas): a workload of
concurrent orders, the saga over the in-memory broker, read-your-writes, audit and rebuild."""

from __future__ import annotations

from decimal import Decimal

import pytest

from examples.orders.audit import audit, read_model_rows
from examples.orders.commands import AddItem, ConfirmOrder, CreateOrder, ReceiveStock
from examples.orders.compose import OrdersSettings, OrdersSystem, derived_urls
from examples.orders.projections import OrdersProjection, RevenuePerDay
from examples.orders.queries import GetOrder, GetOrdersByCustomer, GetRevenuePerDay
from examples.orders.workload import Workload

pytestmark = pytest.mark.slow


def _settings(store_url: str) -> OrdersSettings:
    return OrdersSettings(store_url=store_url, heartbeat_interval=None)


async def test_a_workload_leaves_every_read_model_consistent(store_url: str) -> None:
    async with await OrdersSystem.open(_settings(store_url)) as system:
        workload = Workload(system.commands, system.queries, orders=60, customers=7, read_every=2)
        await workload.stock_up()
        stats = await workload.run()
        assert stats.unexpected == []
        assert stats.stale_reads == []
        assert stats.reads > 10  # one confirmed order in two is read back
        await system.settle(timeout=60)
        report = await audit(system)
        assert report.problems == []
        assert report.orders == 60
        assert report.statuses["shipped"] > 0
        assert report.statuses["cancelled"] > 0
        assert "confirmed" not in report.statuses

        by_customer = [
            await system.queries.ask(GetOrdersByCustomer(f"customer-{n:03d}")) for n in range(7)
        ]
        assert sum(len(orders) for orders in by_customer) == 60
        revenue = await system.queries.ask(GetRevenuePerDay())
        assert sum(day.revenue for day in revenue) == report.revenue

        before = await read_model_rows(system)
        await system.rebuild(OrdersProjection(system.registry))
        await system.rebuild(RevenuePerDay(system.registry))
        assert await read_model_rows(system) == before
        assert system.orders_runner.error is None


async def test_reads_see_their_own_writes(store_url: str) -> None:
    async with await OrdersSystem.open(_settings(store_url)) as system:
        await system.commands.dispatch(ReceiveStock("tea", 10))
        await system.commands.dispatch(CreateOrder("o1", "ada"))
        await system.commands.dispatch(AddItem("o1", "tea", 2, Decimal("4.50")))
        confirmed = await system.commands.dispatch(ConfirmOrder("o1"))
        assert confirmed is not None
        view = await system.queries.ask(GetOrder("o1", after=confirmed.position))
        assert view is not None
        assert view.position >= confirmed.position
        assert view.status in ("confirmed", "shipped")
        assert (view.total, view.units, [line.sku for line in view.lines]) == (
            Decimal("9.00"),
            2,
            ["tea"],
        )
        await system.settle(timeout=30)
        shipped = await system.queries.ask(GetOrder("o1"))
        assert shipped is not None
        assert shipped.status == "shipped"
        assert await system.queries.ask(GetOrder("missing")) is None


async def test_the_system_resumes_after_a_restart(store_url: str) -> None:
    async with await OrdersSystem.open(_settings(store_url)) as system:
        await system.commands.dispatch(CreateOrder("o1", "ada"))
        await system.commands.dispatch(AddItem("o1", "tea", 1, Decimal("1.00")))
        await system.settle(timeout=30)
    async with await OrdersSystem.open(_settings(store_url)) as system:
        await system.commands.dispatch(ReceiveStock("tea", 1))
        result = await system.commands.dispatch(ConfirmOrder("o1"))
        assert result is not None
        await system.settle(timeout=30)
        view = await system.queries.ask(GetOrder("o1"))
        assert view is not None
        assert view.status == "shipped"
        assert (await audit(system)).problems == []


def test_default_urls_sit_next_to_the_store() -> None:
    assert derived_urls("sqlite:///data/shop.db") == (
        "sqlite:///data/shop.readmodels.db",
        "sqlite:///data/shop.streaming.db",
    )
    read, streaming = derived_urls("postgresql://u@h:5432/db?schema=shop")
    assert read == "postgresql://u@h:5432/db?schema=shop_read"
    assert streaming == "postgresql://u@h:5432/db?schema=shop&streaming_schema=shop_streaming"
