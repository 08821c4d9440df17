"""The web console on the orders app, in a real headless Chromium: orders placed through the
API, then the streams browser, an event with its causation and correlation links, the
projections page with its rebuild and reset buttons, and a dead letter fixed and retried.

Screenshots are kept under ``test-artifacts/console-orders/``.
"""

from __future__ import annotations

import asyncio
import pathlib
import sqlite3
from typing import Any

import httpx
import pytest
from examples.orders.compose import OrdersSettings, OrdersSystem
from examples.orders.http import create_orders_app

from factstream.http import HttpSettings
from tests.integration.test_console_browser import ROOT, browser_page
from tests.unit.http.support import TOKEN, serving

__all__ = ["browser_page"]  # the fixture, shared with the generic console's test

ARTIFACTS = ROOT / "test-artifacts" / "console-orders"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def _place_orders(client: httpx.AsyncClient) -> str:
    """Three orders through the API, one request per correlation; the saga ships the
    confirmed one. Returns its id."""
    assert (await client.post("/stock/tea", json={"quantity": 10})).status_code == 200
    shipped = ""
    for n, customer in enumerate(("ada", "bob", "cy")):
        headers = {"X-Correlation-ID": f"checkout-{n}"}
        created = await client.post("/orders", json={"customer_id": customer}, headers=headers)
        assert created.status_code == 201, created.text
        order_id = created.json()["order_id"]
        line = {"sku": "tea", "quantity": n + 1, "unit_price": "4.50"}
        added = await client.post(f"/orders/{order_id}/items", json=line, headers=headers)
        assert added.status_code == 200, added.text
        if n == 0:
            confirmed = await client.post(f"/orders/{order_id}/confirm", headers=headers)
            assert confirmed.status_code == 200, confirmed.text
            shipped = order_id
    return shipped


@pytest.mark.slow
async def test_the_console_on_the_orders_app(tmp_path: pathlib.Path, browser_page: Any) -> None:
    page = browser_page
    settings = OrdersSettings(store_url=f"sqlite:///{tmp_path / 'shop.db'}")
    async with await OrdersSystem.open(settings) as system:
        app = create_orders_app(HttpSettings(token=TOKEN, lag_sample_interval=0.2), system)
        async with serving(app) as base, httpx.AsyncClient(base_url=base, headers=AUTH) as api:
            order_id = await _place_orders(api)
            await system.settle(timeout=30)

            await page.goto(f"{base}/console#/streams?prefix=order-")
            await page.locator("#login-token").fill(TOKEN)
            await page.locator("#login-form button").click()
            rows = page.locator("#streams tbody tr")
            await rows.first.wait_for()
            assert await rows.count() == 3
            assert "order-" in await rows.first.inner_text()
            await _shot(page, "1-streams")

            # The confirmed order's stream, then its confirmation and what it caused.
            await page.locator("#streams a", has_text=order_id).click()
            await page.locator("h1", has_text=order_id).wait_for()
            assert "OrderShipped" in await page.locator("main").inner_text()
            await page.locator("a", has_text="OrderConfirmed").click()
            await page.locator("#event-fields").wait_for()
            assert "checkout-0" in await page.locator("#event-fields").inner_text()
            # The saga carried the request's correlation id into the stock and the shipment.
            correlated = page.locator("h2:text-is('Same correlation') + div")
            await correlated.locator("a", has_text="StockReserved").first.wait_for()
            text = await correlated.inner_text()
            for event_type in ("OrderCreated", "ItemAdded", "ReservationConfirmed", "OrderShipped"):
                assert event_type in text
            await _shot(page, "2-event")
            # The reservation's cause is the saga's ReserveStock command (not an event): the
            # page lists the other events that command stored.
            await correlated.locator("a", has_text="StockReserved").first.click()
            await page.locator("h1", has_text="StockReserved").wait_for()
            fields = await page.locator("#event-fields").inner_text()
            assert "a command or request, not an event of this log" in fields
            same_cause = page.locator("h2:text-is('Same cause') + div")
            await same_cause.locator("a", has_text="ReservationConfirmed").click()
            await page.locator("h1", has_text="ReservationConfirmed").wait_for()
            assert "null" not in await page.locator("main").inner_text()
            await _shot(page, "3-same-cause")

            # Projections: both read models, then a rebuild (confirmed) and a reset (cancelled
            # first, then confirmed).
            await page.goto(f"{base}/console#/projections")
            table = page.locator("#projections")
            await table.locator("tr", has_text="revenue_per_day").wait_for()
            assert "orders" in await table.inner_text()
            await page.locator("#lag-chart path").first.wait_for(state="attached")
            revenue = table.locator("tr", has_text="revenue_per_day")
            await revenue.locator("button[data-action='rebuild']").click()
            assert "Rebuild revenue_per_day?" in await page.locator("#confirm").inner_text()
            await page.locator("#confirm-ok").click()
            notice = page.locator("#projection-notice")
            await notice.wait_for()
            assert "generation 2 of revenue_per_day is active" in await notice.inner_text()
            orders_row = table.locator("tr").filter(has=page.get_by_text("orders", exact=True))
            await orders_row.locator("button[data-action='reset']").click()
            await page.locator("#confirm-cancel").click()
            assert "generation 2" in await notice.inner_text()  # nothing was reset
            runner = system.orders_runner
            await orders_row.locator("button[data-action='reset']").click()
            await page.locator("#confirm-ok").click()
            await page.locator("#projection-notice", has_text="building again").wait_for()
            assert system.orders_runner is not runner
            await _shot(page, "4-projections")
            answer = await api.get(f"/orders/{order_id}")
            assert answer.json()["status"] == "shipped"

            # A dead letter: someone left a row in the read model that an order's creation
            # now collides with. The projection parks the event; the operator deletes the row
            # and retries from the console.
            read_models = tmp_path / "shop.readmodels.db"
            with sqlite3.connect(read_models) as db:
                [(table_name,)] = db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'orders_g%'"
                ).fetchall()
                db.execute(
                    f"INSERT INTO {table_name} (order_id, customer_id, currency, status, "
                    "total_cents, units, created_at, updated_at, version, position) "
                    "VALUES ('stray-1', 'x', 'EUR', 'open', 0, 0, '', '', 0, 0)"
                )
            body = {"customer_id": "dee", "order_id": "stray-1"}
            assert (await api.post("/orders", json=body)).status_code == 201
            async with asyncio.timeout(30):  # the runner tries three times, then parks it
                while True:
                    if (await api.get("/dead-letters")).json()["dead_letters"]:
                        break
                    await asyncio.sleep(0.05)
            await page.goto(f"{base}/console#/dead-letters")
            letter = page.locator("#dead-letters tbody tr", has_text="order-stray-1")
            await letter.wait_for()
            assert "UNIQUE" in await letter.inner_text()
            await _shot(page, "5-dead-letters")
            with sqlite3.connect(read_models) as db:
                db.execute(f"DELETE FROM {table_name} WHERE order_id = 'stray-1'")
            await letter.locator("button", has_text="Retry").click()
            await page.get_by_text("No dead letters").wait_for()
            await system.settle(timeout=30)
            stray = await api.get("/orders/stray-1")
            assert stray.status_code == 200, stray.text
            assert stray.json()["customer_id"] == "dee"
            await page.goto("about:blank")
