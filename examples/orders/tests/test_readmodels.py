"""Rebuilding and resetting the orders system's read models while it runs (the console's
buttons): queries keep answering, and read-your-writes follows the new runner."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import pytest
from tests.unit.http.support import running

import factstream as fs
from examples.orders.compose import OrdersSettings, OrdersSystem
from examples.orders.domain import registry as orders_registry
from examples.orders.http import create_orders_app
from examples.orders.projections import OrdersProjection
from examples.orders.readmodels import ReadModels
from factstream.http import STATUS_HEADER, TOKEN_HEADER, HttpSettings
from factstream.projections import SqliteTarget
from factstream.projections.readmodels.sqlite import SqliteSession


@pytest.fixture
async def system(tmp_path: pathlib.Path) -> AsyncIterator[OrdersSystem]:
    settings = OrdersSettings(store_url=f"sqlite:///{tmp_path / 'shop.db'}", saga=False)
    async with await OrdersSystem.open(settings) as opened:
        yield opened


async def test_reset_and_rebuild_over_http_keep_the_read_models_whole(
    system: OrdersSystem,
) -> None:
    async with running(create_orders_app(HttpSettings(), system)) as client:
        created = await client.post("/orders", json={"customer_id": "ada"})
        order_id = created.json()["order_id"]
        added = await client.post(
            f"/orders/{order_id}/items", json={"sku": "tea", "quantity": 2, "unit_price": "4.50"}
        )
        token = added.headers[TOKEN_HEADER]
        before = (await client.get(f"/orders/{order_id}", headers={TOKEN_HEADER: token})).json()
        old_runner = system.orders_runner

        reset = await client.post("/projections/orders/reset")
        assert reset.status_code == 200, reset.text
        assert "building again from position 1" in reset.json()["detail"]
        assert system.orders_runner is not old_runner
        assert not old_runner.running
        # The waiter follows the new runner: the order is back once it has caught up.
        again = await client.get(f"/orders/{order_id}", headers={TOKEN_HEADER: token})
        assert again.headers[STATUS_HEADER] == "fresh"
        assert again.json() == before

        rebuilt = await client.post("/projections/revenue_per_day/rebuild")
        assert rebuilt.status_code == 200, rebuilt.text
        assert rebuilt.json()["detail"].startswith("generation 2 of revenue_per_day")
        rebuilt = await client.post("/projections/orders/rebuild")
        assert rebuilt.status_code == 200, rebuilt.text
        confirmed = await client.post(f"/orders/{order_id}/confirm")
        after = await client.get(
            f"/orders/{order_id}", headers={TOKEN_HEADER: confirmed.headers[TOKEN_HEADER]}
        )
        assert after.headers[STATUS_HEADER] == "fresh"
        assert after.json()["status"] == "confirmed"

        assert (await client.post("/projections/nothing/reset")).status_code == 404
        states = {
            p["name"]: p["state"] for p in (await client.get("/projections")).json()["projections"]
        }
        assert states == {"orders": "running", "revenue_per_day": "running"}
    assert system.orders_runner.error is None


async def test_the_waiter_times_out_like_a_runner(system: OrdersSystem) -> None:
    waiter = system.read_models.waiter("orders")
    head = await system.store.head_position()
    assert await waiter.wait_for(head, 1.0)
    assert not await waiter.wait_for(head + 10, 0.05)
    with pytest.raises(KeyError):
        system.read_models.waiter("nothing")


async def test_a_failed_reset_leaves_the_projection_running(tmp_path: pathlib.Path) -> None:
    failing = {"next": False}

    class Unreachable(SqliteTarget):
        """The read models' database, unreachable for the next connection when asked."""

        async def connect(self) -> SqliteSession:
            if failing["next"]:
                failing["next"] = False
                raise OSError("the read models' database is unreachable")
            return await SqliteTarget.connect(self)

    registry = orders_registry()
    async with fs.connect(f"sqlite:///{tmp_path / 'shop.db'}") as store:
        target = Unreachable(str(tmp_path / "rm.db"))
        read_models = ReadModels(store, target, {"orders": lambda: OrdersProjection(registry)}, {})
        await read_models.start()
        try:
            await store.append(
                "order-o1", [fs.NewEvent("OrderCreated", {"order_id": "o1", "customer_id": "c"})]
            )
            before = read_models.runner("orders")
            failing["next"] = True
            with pytest.raises(OSError, match="unreachable"):
                await read_models.reset_projection("orders")
            after = read_models.runner("orders")
            assert after is not before
            assert after.running
            assert await read_models.waiter("orders").wait_for(1, 5.0)
            assert await read_models.reset_projection("nothing") is None
            assert await read_models.rebuild_projection("nothing") is None
        finally:
            await read_models.stop()
