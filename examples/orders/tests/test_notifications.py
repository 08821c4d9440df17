"""The notifications service (plain FastStream) reading the orders system's relay, for real."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import uuid
from decimal import Decimal
from typing import Any

import pytest
from tests.services import require

from examples.orders.commands import AddItem, CancelOrder, ConfirmOrder, CreateOrder, ReceiveStock
from examples.orders.compose import OrdersSettings, OrdersSystem

pytest.importorskip("faststream")

from examples.orders.notifications import (
    NotificationLog,
    main,
    notification_text,
    notifications_service,
)

pytestmark = pytest.mark.slow

PARTITIONS = 2
SERVERS = {
    "nats": ("NATS", 4222, "nats://127.0.0.1:4222"),
    "redis": ("Redis", 6379, "redis://127.0.0.1:6379/0"),
}


def service(kind: str, log: NotificationLog, prefix: str, name: str) -> Any:
    url = SERVERS[kind][2]
    return notifications_service(log, url, prefix=prefix, partitions=PARTITIONS, name=name)


async def until(condition: Any, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


@pytest.mark.parametrize("kind", ["nats", "redis"])
async def test_customers_hear_once_of_confirmed_and_shipped_orders(
    kind: str, tmp_path: pathlib.Path
) -> None:
    name, port, url = SERVERS[kind]
    require(name, "127.0.0.1", port)
    prefix = f"fsnotes{uuid.uuid4().hex[:10]}"
    settings = OrdersSettings(
        store_url=f"sqlite:///{tmp_path / 'shop.db'}",
        broker_url=f"{url}?prefix={prefix}&partitions={PARTITIONS}",
        heartbeat_interval=None,
    )
    log = NotificationLog(str(tmp_path / "notes.db"))
    async with await OrdersSystem.open(settings) as system:
        assert system.broker is not None
        # The relay creates the JetStream stream when its task first runs; a service that
        # subscribes before that finds no stream. Deployed, the service starts later (or
        # retries); here make sure the stream is there (setup is idempotent).
        await system.broker.setup()
        try:
            app = service(kind, log, prefix, "notifications")
            await app.start()
            try:
                await system.commands.dispatch(ReceiveStock("tea", 10))
                for order in ("o1", "o2"):
                    await system.commands.dispatch(CreateOrder(order, "ada"))
                    await system.commands.dispatch(AddItem(order, "tea", 2, Decimal("4.50")))
                await system.commands.dispatch(ConfirmOrder("o1"))
                await system.commands.dispatch(CancelOrder("o2"))  # no notification
                await system.settle(timeout=30)  # the saga shipped o1; the relay caught up
                await until(lambda: len(log.all()) == 2)
                await asyncio.sleep(0.3)  # nothing more arrives
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(app.stop(), 10)
            notes = log.all()
            assert [(n.order_id, n.kind) for n in notes] == [
                ("o1", "OrderConfirmed"),
                ("o1", "OrderShipped"),
            ]
            assert notes[0].text == "Your order o1 is confirmed: 9.00 in all."

            # A second instance (new consumer) reads everything again: nothing is doubled.
            again = service(kind, log, prefix, "notifications-replay")
            await again.start()
            try:
                await until(lambda: log.duplicates == 2, timeout=30)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(again.stop(), 10)
            assert log.all() == notes
        finally:
            await system.broker.destroy()
            log.close()


def test_a_notification_is_recorded_once_per_message_id(tmp_path: pathlib.Path) -> None:
    log = NotificationLog(str(tmp_path / "notes.db"))
    body = {"order_id": "o9", "total": "3.00"}
    assert log.record("m-1", "OrderConfirmed", body) is True
    assert log.record("m-1", "OrderConfirmed", body) is False
    assert log.duplicates == 1
    assert log.record("m-2", "OrderLineAdded", body) is False  # nothing to tell
    assert [n.message_id for n in log.all()] == ["m-1"]
    log.close()


@pytest.mark.parametrize(
    ("message_id", "body", "error"),
    [
        ("", {"order_id": "o1"}, "without a message id"),
        ("m-1", {"total": "1.00"}, "without an order_id"),
        ("m-1", {"order_id": 42}, "without an order_id"),
    ],
)
def test_bad_messages_are_refused_with_a_clear_error(
    message_id: str, body: dict[str, Any], error: str
) -> None:
    log = NotificationLog()
    with pytest.raises(ValueError, match=error):
        log.record(message_id, "OrderShipped", body)
    assert log.all() == []
    log.close()


def test_the_texts() -> None:
    assert notification_text("OrderShipped", {"order_id": "o1"}) == "Your order o1 is on its way."
    assert notification_text("OrderCreated", {"order_id": "o1"}) is None


def test_other_brokers_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--broker", "kafka://127.0.0.1:9092"])
    assert "nats:// or redis://" in capsys.readouterr().err
    with pytest.raises(ValueError, match="nats:// or redis://"):
        notifications_service(NotificationLog(), "amqp://127.0.0.1")
