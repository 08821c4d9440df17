"""The fulfilment process manager, driven by the events it would receive."""

from __future__ import annotations

import uuid
from decimal import Decimal

import factstream as fs
from examples.orders.commands import AddItem, CancelOrder, ConfirmOrder, CreateOrder, ReceiveStock
from examples.orders.handlers import Repositories
from examples.orders.saga import OrderFulfilment


async def _deliver_all(saga: OrderFulfilment, store: fs.EventStore, start: int) -> int:
    """Feed ``saga`` every event from ``start`` until it causes no more; the next start."""
    while True:
        events = [e async for e in store.read_all(from_position=start)]
        if not events:
            return start
        for event in events:
            await saga(event)
        start = events[-1].position + 1


async def _order(bus: fs.CommandBus, order_id: str, quantity: int) -> None:
    await bus.dispatch(CreateOrder(order_id, "ada"))
    await bus.dispatch(AddItem(order_id, "tea", quantity, Decimal("2.00")))
    await bus.dispatch(ConfirmOrder(order_id))


async def test_confirmed_orders_ship_or_are_cancelled_for_lack_of_stock(
    bus: fs.CommandBus, store: fs.EventStore, registry: fs.EventRegistry, repositories: Repositories
) -> None:
    await bus.dispatch(ReceiveStock("tea", 5))
    await _order(bus, "o1", 3)
    await _order(bus, "o2", 3)
    await _deliver_all(OrderFulfilment(bus, registry), store, 1)
    assert (await repositories.orders.load("o1")).status == "shipped"
    o2 = await repositories.orders.load("o2")
    assert o2.status == "cancelled"
    assert (await repositories.stock.load("tea")).available == 2


async def test_redelivered_events_store_nothing_new(
    bus: fs.CommandBus, store: fs.EventStore, registry: fs.EventRegistry
) -> None:
    await bus.dispatch(ReceiveStock("tea", 5))
    await _order(bus, "o1", 3)
    saga = OrderFulfilment(bus, registry)
    await _deliver_all(saga, store, 1)
    head = await store.head_position()
    await _deliver_all(saga, store, 1)  # everything again: at-least-once delivery
    assert await store.head_position() == head


async def test_events_carry_the_correlation_of_the_order(
    bus: fs.CommandBus, store: fs.EventStore, registry: fs.EventRegistry
) -> None:
    await bus.dispatch(ReceiveStock("tea", 5))
    await bus.dispatch(CreateOrder("o1", "ada"), correlation_id="checkout-1")
    await bus.dispatch(AddItem("o1", "tea", 1, Decimal("2.00")), correlation_id="checkout-1")
    await bus.dispatch(ConfirmOrder("o1"), correlation_id="checkout-1")
    await _deliver_all(OrderFulfilment(bus, registry), store, 1)
    shipped = (await store.read("order-o1"))[-1]
    reserved = (await store.read("reservation-o1"))[-1]
    assert shipped.type == "OrderShipped"
    assert shipped.correlation_id == reserved.correlation_id == "checkout-1"
    assert reserved.causation_id is not None
    assert shipped.causation_id == str(uuid.uuid5(reserved.id, "command:ShipOrder"))


async def test_a_cancellation_after_reservation_releases_the_stock(
    bus: fs.CommandBus, store: fs.EventStore, registry: fs.EventRegistry, repositories: Repositories
) -> None:
    await bus.dispatch(ReceiveStock("tea", 5))
    await _order(bus, "o1", 3)
    saga = OrderFulfilment(bus, registry)
    # The saga reserves; the customer cancels before the shipment is decided.
    confirmed = (await store.read("order-o1"))[-1]
    await saga(confirmed)
    await bus.dispatch(CancelOrder("o1"))
    await _deliver_all(saga, store, confirmed.position + 1)
    assert (await repositories.orders.load("o1")).status == "cancelled"
    assert (await repositories.reservations.load("o1")).status == "released"
    assert (await repositories.stock.load("tea")).available == 5
    assert saga.refused["ShipOrder"] == 1
