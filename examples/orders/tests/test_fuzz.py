"""Hypothesis against the command handlers: random command sequences with hostile values.

Whatever is sent, each command either stores events or is refused with a domain error (or
``AggregateNotFound``), nothing else; and everything stored decodes strictly and tells a
story the rules allow. Commands also arrive as JSON (as over HTTP): anything that decodes is
dispatched, anything else is refused by the decoder.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import factstream as fs
from examples.orders.commands import (
    AddItem,
    CancelOrder,
    ConfirmOrder,
    CreateOrder,
    ReceiveStock,
    ReleaseStock,
    RemoveItem,
    ReserveStock,
    ShipOrder,
)
from examples.orders.domain import (
    MAX_LINES,
    ItemAdded,
    ItemRemoved,
    Order,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderShipped,
    check_identifier,
    check_price,
    check_quantity,
    registry,
)
from examples.orders.errors import OrderError
from examples.orders.handlers import Repositories, register_handlers
from examples.orders.inventory import ReservedLine, StockReceived, StockReserved

ids = st.sampled_from(["o1", "o2", "", "o 1", "x" * 70, "ö"])
skus = st.sampled_from(["tea", "jam", "", "-bad", "t\x00", "x" * 65])
quantities = st.one_of(st.integers(-5, 1005), st.sampled_from([0, 1, 1000, 1001]))
prices = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True, places=None),
    st.sampled_from([Decimal("0.01"), Decimal("9.99"), Decimal("100000.00"), Decimal("1.005")]),
)
reasons = st.one_of(st.text(max_size=8), st.just("x" * 501))

commands = st.one_of(
    st.builds(
        CreateOrder,
        ids,
        st.sampled_from(["ada", "", "b" * 65]),
        st.sampled_from(["EUR", "eur", "EURO"]),
    ),
    st.builds(AddItem, ids, skus, quantities, prices),
    st.builds(RemoveItem, ids, skus),
    st.builds(ConfirmOrder, ids),
    st.builds(ShipOrder, ids),
    st.builds(CancelOrder, ids, reasons),
    st.builds(ReceiveStock, skus, st.integers(-2, 2_000_000)),
    st.builds(
        ReserveStock,
        ids,
        st.lists(st.builds(ReservedLine, skus, quantities), max_size=3).map(tuple),
    ),
    st.builds(ReleaseStock, ids),
)

json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(["9.99", "NaN", "1e400", "-0", "0.001"]),
)
add_item_json = st.fixed_dictionaries(
    {
        "order_id": st.one_of(ids, json_values),
        "sku": st.one_of(skus, json_values),
        "quantity": st.one_of(quantities, json_values),
        "unit_price": st.one_of(json_values, prices.map(str)),
    }
)


async def _run(batch: list[object]) -> list[fs.RecordedEvent]:
    events = registry()
    async with fs.connect("memory://") as store:
        repositories = Repositories.over(store, events, snapshot_every=3)
        bus = fs.CommandBus()
        register_handlers(bus, repositories)
        for command in batch:
            try:
                await bus.dispatch(command)
            except (OrderError, fs.AggregateNotFound):
                pass
        return [event async for event in store.read_all()]


def _check_story(recorded: list[fs.RecordedEvent]) -> None:
    decode = registry().decode
    orders: dict[str, Order] = {}
    stock: dict[str, int] = {}
    for event in recorded:
        if event.type == "factstream.snapshot":
            continue
        data = decode(event)
        if isinstance(data, OrderCreated):
            assert event.version == 1
            check_identifier(data.order_id, "order_id")
            check_identifier(data.customer_id, "customer_id")
            orders[data.order_id] = order = Order(data.order_id)
            order._replay([data])
            continue
        if isinstance(data, (ItemAdded, ItemRemoved, OrderConfirmed, OrderShipped, OrderCancelled)):
            order = orders[data.order_id]  # never an event for an order not created
            before = order.status
            if isinstance(data, ItemAdded):
                assert before == "open"
                check_identifier(data.sku, "sku")
                check_quantity(data.quantity)
                assert check_price(data.unit_price) == data.unit_price
            elif isinstance(data, ItemRemoved):
                assert before == "open"
                assert data.sku in order.lines
            elif isinstance(data, OrderConfirmed):
                assert before == "open"
                assert data.lines
                assert data.total == order.total
            elif isinstance(data, OrderShipped):
                assert before == "confirmed"
            else:
                assert before in ("open", "confirmed")
            order._replay([data])
            assert len(order.lines) <= MAX_LINES
            assert all(1 <= line.quantity <= 1000 for line in order.lines.values())
        elif isinstance(data, StockReceived):
            check_identifier(data.sku, "sku")
            stock[data.sku] = stock.get(data.sku, 0) + data.quantity
        elif isinstance(data, StockReserved):
            stock[data.sku] = stock.get(data.sku, 0) - data.quantity
            assert stock[data.sku] >= 0, "oversold"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(commands, max_size=25))
def test_no_command_breaks_an_invariant_or_stores_garbage(batch: list[object]) -> None:
    _check_story(asyncio.run(_run(batch)))


@settings(max_examples=200, deadline=None)
@given(st.lists(add_item_json, max_size=6))
def test_commands_decoded_from_json_store_nothing_invalid(documents: list[dict[str, Any]]) -> None:
    batch: list[object] = [CreateOrder("o1", "ada"), CreateOrder("o2", "bob")]
    for document in documents:
        try:
            raw = msgspec.json.encode(document)
            batch.append(msgspec.json.decode(raw, type=AddItem))
        except (msgspec.ValidationError, msgspec.EncodeError, msgspec.DecodeError):
            continue
    batch.append(ConfirmOrder("o1"))
    _check_story(asyncio.run(_run(batch)))
