"""The orders system over HTTP: the whole app on a SQLite store, driven through httpx."""

from __future__ import annotations

import asyncio
import pathlib
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.unit.http.support import running

from examples.orders.compose import OrdersSettings, OrdersSystem
from examples.orders.http import create_orders_app
from factstream.http import STATUS_HEADER, TOKEN_HEADER, HttpSettings

PROBLEM = "application/problem+json"


@pytest.fixture
async def system(tmp_path: pathlib.Path) -> AsyncIterator[OrdersSystem]:
    # No saga: nothing but the requests of the test changes an order.
    settings = OrdersSettings(store_url=f"sqlite:///{tmp_path / 'shop.db'}", saga=False)
    async with await OrdersSystem.open(settings) as opened:
        yield opened


def serve(system: OrdersSystem) -> Any:
    """The app with its lifespan started, and an httpx client on it (entered in the test's
    own task: the lifespan's cancel scope must be left in the task that entered it)."""
    return running(create_orders_app(HttpSettings(), system))


async def create(client: httpx.AsyncClient, customer: str = "ada") -> tuple[str, int]:
    answer = await client.post("/orders", json={"customer_id": customer})
    assert answer.status_code == 201, answer.text
    order_id = answer.json()["order_id"]
    assert answer.headers["location"] == f"/orders/{order_id}"
    return order_id, int(answer.headers[TOKEN_HEADER])


async def add(
    client: httpx.AsyncClient, order_id: str, sku: str = "tea", quantity: int = 2
) -> httpx.Response:
    return await client.post(
        f"/orders/{order_id}/items", json={"sku": sku, "quantity": quantity, "unit_price": "4.50"}
    )


def assert_problem(answer: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    assert body["type"] == f"urn:factstream:problem:{kind}"
    assert "Traceback" not in answer.text
    return body


async def test_create_add_confirm_then_read_your_writes(system: OrdersSystem) -> None:
    async with serve(system) as client:
        order_id, created = await create(client)
        added = await add(client, order_id)
        assert added.status_code == 200, added.text
        assert added.json() == {"order_id": order_id, "position": int(added.headers[TOKEN_HEADER])}
        confirmed = await client.post(f"/orders/{order_id}/confirm")
        assert confirmed.status_code == 200, confirmed.text
        token = confirmed.headers[TOKEN_HEADER]
        assert created < int(added.headers[TOKEN_HEADER]) < int(token)

        read = await client.get(f"/orders/{order_id}", headers={TOKEN_HEADER: token})
        assert read.status_code == 200, read.text
        assert read.headers[STATUS_HEADER] == "fresh"
        view = read.json()
        assert view["status"] == "confirmed"
        assert view["customer_id"] == "ada"
        assert view["total"] == "9.00"
        assert view["lines"] == [{"sku": "tea", "quantity": 2, "unit_price": "4.50"}]
        assert view["position"] == int(token)

        shipped = await client.post(f"/orders/{order_id}/ship")
        read = await client.get(
            f"/orders/{order_id}", headers={TOKEN_HEADER: shipped.headers[TOKEN_HEADER]}
        )
        assert read.json()["status"] == "shipped"


async def test_remove_item_and_cancel(system: OrdersSystem) -> None:
    async with serve(system) as client:
        order_id, _ = await create(client)
        await add(client, order_id, "tea")
        await add(client, order_id, "cake", 1)
        removed = await client.delete(f"/orders/{order_id}/items/tea")
        assert removed.status_code == 200, removed.text
        cancelled = await client.post(f"/orders/{order_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        read = await client.get(
            f"/orders/{order_id}", headers={TOKEN_HEADER: cancelled.headers[TOKEN_HEADER]}
        )
        view = read.json()
        assert view["status"] == "cancelled"
        assert [line["sku"] for line in view["lines"]] == ["cake"]


async def test_invalid_values_and_broken_rules_are_422(system: OrdersSystem) -> None:
    async with serve(system) as client:
        order_id, _ = await create(client)
        body = assert_problem(await add(client, order_id, quantity=0), 422, "invalid-input")
        assert "quantity" in body["detail"]
        too_precise = await client.post(
            f"/orders/{order_id}/items", json={"sku": "tea", "quantity": 1, "unit_price": "1.001"}
        )
        assert_problem(too_precise, 422, "invalid-input")
        assert_problem(await client.post(f"/orders/{order_id}/confirm"), 422, "empty-order")
        assert_problem(
            await client.delete(f"/orders/{order_id}/items/tea"), 422, "item-not-in-order"
        )
        assert_problem(await client.post(f"/orders/{order_id}/ship"), 422, "cannot-ship")
        bad_id = await client.post("/orders", json={"customer_id": "no spaces allowed"})
        assert_problem(bad_id, 422, "invalid-input")

        await add(client, order_id)
        await client.post(f"/orders/{order_id}/confirm")
        assert_problem(await add(client, order_id), 422, "order-not-open")
        # A body that does not decode is the framework's 400, also as a problem document.
        wrong_type = await client.post(
            f"/orders/{order_id}/items", json={"sku": "tea", "quantity": "two", "unit_price": "1"}
        )
        assert_problem(wrong_type, 400, "validation")


async def test_existing_order_is_409(system: OrdersSystem) -> None:
    async with serve(system) as client:
        chosen = "order-chosen-by-the-client"
        first = await client.post("/orders", json={"customer_id": "ada", "order_id": chosen})
        assert first.status_code == 201, first.text
        assert first.json() == {"order_id": chosen}
        again = await client.post("/orders", json={"customer_id": "bob", "order_id": chosen})
        body = assert_problem(again, 409, "order-already-exists")
        assert chosen in body["detail"]
        read = await client.get(
            f"/orders/{chosen}", headers={TOKEN_HEADER: first.headers[TOKEN_HEADER]}
        )
        assert read.json()["customer_id"] == "ada"


async def test_missing_order_is_404(system: OrdersSystem) -> None:
    async with serve(system) as client:
        missing = "0190a2b4-0000-7000-8000-000000000000"
        assert_problem(await client.get(f"/orders/{missing}"), 404, "order-not-found")
        for answer in (
            await add(client, missing),
            await client.post(f"/orders/{missing}/confirm"),
            await client.post(f"/orders/{missing}/cancel"),
            await client.delete(f"/orders/{missing}/items/tea"),
        ):
            assert_problem(answer, 404, "order-not-found")


async def test_orders_by_customer(system: OrdersSystem) -> None:
    async with serve(system) as client:
        first, _ = await create(client, "ada")
        second, _ = await create(client, "ada")
        await create(client, "bob")
        added = await add(client, second)
        answer = await client.get(
            "/customers/ada/orders", headers={TOKEN_HEADER: added.headers[TOKEN_HEADER]}
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers[STATUS_HEADER] == "fresh"
        orders = answer.json()
        assert [o["order_id"] for o in orders] == [first, second]
        assert [o["total"] for o in orders] == ["0.00", "9.00"]
        assert all(o["customer_id"] == "ada" for o in orders)
        nobody = await client.get("/customers/nobody/orders")
        assert nobody.status_code == 200
        assert nobody.json() == []


async def test_consistency_headers(system: OrdersSystem) -> None:
    async with serve(system) as client:
        order_id, token = await create(client)
        await system.orders_runner.wait_for(token, 5.0)
        plain = await client.get(f"/orders/{order_id}")
        assert plain.status_code == 200
        assert STATUS_HEADER not in plain.headers  # no token sent, no promise made

        for bad in ("yesterday", "-1", str(10**6)):
            answer = await client.get(f"/orders/{order_id}", headers={TOKEN_HEADER: bad})
            assert_problem(answer, 400, "invalid-consistency-token")

        # With the read model stopped, a write it has not seen is answered stale: 202 with the
        # data there is, or 404 saying so when the order itself is not there yet.
        await system.orders_runner.stop()
        added = await add(client, order_id)
        behind = await client.get(
            f"/orders/{order_id}",
            headers={TOKEN_HEADER: added.headers[TOKEN_HEADER], "Prefer": "wait=0"},
        )
        assert behind.status_code == 202
        assert behind.headers[STATUS_HEADER] == "stale"
        assert behind.headers["retry-after"] == "1"
        assert behind.json()["lines"] == []  # the item is not in the read model yet

        new_order, new_token = await create(client)
        unseen = await client.get(
            f"/orders/{new_order}", headers={TOKEN_HEADER: str(new_token), "Prefer": "wait=0"}
        )
        assert_problem(unseen, 404, "not-found")
        assert unseen.headers[STATUS_HEADER] == "stale"


async def test_console_sees_the_orders_projections(system: OrdersSystem) -> None:
    async with serve(system) as client:
        order_id, token = await create(client)
        await client.get(f"/orders/{order_id}", headers={TOKEN_HEADER: str(token)})
        projections = await client.get("/projections")
        assert projections.status_code == 200, projections.text
        names = {p["name"] for p in projections.json()["projections"]}
        assert names == {"orders", "revenue_per_day"}
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        letters = await client.get("/dead-letters")
        assert letters.status_code == 200, letters.text
        openapi = (await client.get("/schema/openapi.json")).json()
        assert {"/orders", "/orders/{order_id}", "/customers/{customer_id}/orders"} <= set(
            openapi["paths"]
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_factstream_serve_orders(tmp_path: pathlib.Path) -> None:
    """``factstream serve --orders`` serves the whole system with one command, and stops
    cleanly on SIGTERM."""
    port = free_port()
    command = [sys.executable, "-c", "from factstream.cli.main import main; main()"]
    server = subprocess.Popen(  # noqa: ASYNC220 - a child process for the whole test
        [*command, "serve", "--orders", "--store", "sqlite:///shop.db", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            while True:  # until it answers (the test's own timeout bounds this)
                assert server.poll() is None, server.communicate()[0].decode()
                try:
                    if (await client.get("/health/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            order_id, _ = await create(client)
            assert (await add(client, order_id)).status_code == 200
            confirmed = await client.post(f"/orders/{order_id}/confirm")
            read = await client.get(
                f"/orders/{order_id}", headers={TOKEN_HEADER: confirmed.headers[TOKEN_HEADER]}
            )
            assert read.headers[STATUS_HEADER] == "fresh"
            # The fulfilment saga runs too: no stock was received, so it may cancel already.
            assert read.json()["status"] in ("confirmed", "cancelled")
            names = {p["name"] for p in (await client.get("/projections")).json()["projections"]}
            assert names == {"orders", "revenue_per_day"}
            # /metrics sees the command handlers' store: the appends of these commands.
            scraped = (await client.get("/metrics")).text
            appended = [
                line
                for line in scraped.splitlines()
                if line.startswith('factstream_events_appended_total{backend="sqlite"}')
            ]
            assert appended, scraped
            assert float(appended[0].rsplit(" ", 1)[1]) >= 3
            assert 'factstream_command_duration_seconds_count{command="CreateOrder"' in scraped
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    assert server.returncode == 0, output
    assert "serving the orders system on sqlite:///shop.db" in output
    assert (tmp_path / "shop.readmodels.db").exists()


def test_broker_and_redis_need_orders() -> None:
    from typer.testing import CliRunner

    from factstream.cli.app import app

    result = CliRunner().invoke(app, ["serve", "--broker", "memory://"])
    assert result.exit_code == 2
    assert "add --orders" in result.output


async def test_hostile_input_is_never_a_500(system: OrdersSystem) -> None:
    async with serve(system) as client:
        order_id, _ = await create(client)
        items = f"/orders/{order_id}/items"
        bodies: list[Any] = [
            {"sku": "tea", "quantity": 10**30, "unit_price": "1.00"},
            {"sku": "tea", "quantity": 1, "unit_price": "NaN"},
            {"sku": "tea", "quantity": 1, "unit_price": "-Infinity"},
            {"sku": "tea", "quantity": 1, "unit_price": 1e308},
            {"sku": "x" * 10_000, "quantity": 1, "unit_price": "1.00"},
            {"sku": "tea", "quantity": 1, "unit_price": "1.00", "extra": True},
            {"sku": "tea"},
            [],
            None,
        ]
        for body in bodies:
            answer = await client.post(items, json=body)
            assert answer.status_code in (400, 422), (body, answer.text)
            assert answer.headers["content-type"].startswith(PROBLEM)
        for path in (f"{items}/a%2Fb", f"{items}/%00", "/orders/%20/confirm"):
            answer = await client.delete(path) if "items" in path else await client.post(path)
            assert 400 <= answer.status_code < 500, (path, answer.text)
        float_price = await client.post(
            items, json={"sku": "tea", "quantity": 1, "unit_price": 9.99}
        )
        assert float_price.status_code == 200, float_price.text
        read = await client.get(
            f"/orders/{order_id}", headers={TOKEN_HEADER: float_price.headers[TOKEN_HEADER]}
        )
        assert read.json()["lines"] == [{"sku": "tea", "quantity": 1, "unit_price": "9.99"}]


async def test_stock_is_received_over_http_and_bad_quantities_are_refused(
    system: OrdersSystem,
) -> None:
    async with serve(system) as client:
        received = await client.post("/stock/tea", json={"quantity": 5})
        assert received.status_code == 200, received.text
        assert received.json() == {"sku": "tea", "position": int(received.headers[TOKEN_HEADER])}
        assert_problem(await client.post("/stock/tea", json={"quantity": 0}), 422, "invalid-input")
        assert_problem(
            await client.post("/stock/tea", json={"quantity": "lots"}), 400, "validation"
        )
    stock = await system.repositories.stock.load("tea")
    assert stock.available == 5
