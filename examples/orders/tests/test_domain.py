"""The Order aggregate's rules, given / when / then, with no I/O."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

import factstream as fs
from examples.orders.domain import (
    ItemAdded,
    ItemRemoved,
    Order,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderLine,
    OrderShipped,
)
from examples.orders.errors import (
    AlreadyCancelled,
    AlreadyShipped,
    CannotCancelShipped,
    CannotShip,
    EmptyOrder,
    InvalidInput,
    ItemNotInOrder,
    OrderNotOpen,
    PriceMismatch,
    TooManyLines,
)
from factstream.testing import given

P = Decimal
CREATED = OrderCreated("o1", "ada")
TEA = ItemAdded("o1", "tea", 2, P("4.50"))
CONFIRMED = OrderConfirmed("o1", P("9.00"), (OrderLine("tea", 2, P("4.50")),))


def test_create_opens_an_order() -> None:
    order = given(Order, id="o1").when(lambda _: Order.create("o1", "ada")).then(CREATED)
    assert order.status == "open"


def test_add_item_records_the_price_in_two_places() -> None:
    given(Order, CREATED, id="o1").when(lambda o: o.add_item("tea", 2, P("4.5"))).then(TEA)


def test_adding_a_sku_again_grows_its_line() -> None:
    order = given(Order, CREATED, TEA, id="o1").when(lambda o: o.add_item("tea", 1, P("4.50")))
    assert order.then(ItemAdded("o1", "tea", 1, P("4.50"))).lines["tea"].quantity == 3


def test_one_price_per_sku() -> None:
    given(Order, CREATED, TEA, id="o1").when(lambda o: o.add_item("tea", 1, P("5.00"))).then_raises(
        PriceMismatch
    )


def test_no_items_after_confirmation() -> None:
    given(Order, CREATED, TEA, CONFIRMED, id="o1").when(
        lambda o: o.add_item("jam", 1, P("1.00"))
    ).then_raises(OrderNotOpen)
    given(Order, CREATED, TEA, CONFIRMED, id="o1").when(lambda o: o.remove_item("tea")).then_raises(
        OrderNotOpen
    )


def test_remove_item() -> None:
    order = given(Order, CREATED, TEA, id="o1").when(lambda o: o.remove_item("tea"))
    assert order.then(ItemRemoved("o1", "tea")).total == 0
    given(Order, CREATED, id="o1").when(lambda o: o.remove_item("tea")).then_raises(ItemNotInOrder)


def test_confirm_freezes_lines_and_total() -> None:
    given(Order, CREATED, TEA, id="o1").when(lambda o: o.confirm()).then(CONFIRMED)
    given(Order, CREATED, id="o1").when(lambda o: o.confirm()).then_raises(EmptyOrder)


def test_no_shipping_a_cancelled_order() -> None:
    given(Order, CREATED, TEA, CONFIRMED, OrderCancelled("o1", "no"), id="o1").when(
        lambda o: o.ship()
    ).then_raises(CannotShip)


def test_only_confirmed_orders_ship() -> None:
    given(Order, CREATED, TEA, id="o1").when(lambda o: o.ship()).then_raises(CannotShip)
    given(Order, CREATED, TEA, CONFIRMED, id="o1").when(lambda o: o.ship()).then(
        OrderShipped("o1", P("9.00"))
    )
    given(Order, CREATED, TEA, CONFIRMED, OrderShipped("o1", P("9.00")), id="o1").when(
        lambda o: o.ship()
    ).then_raises(AlreadyShipped)


def test_cancel_rules() -> None:
    shipped = (CREATED, TEA, CONFIRMED, OrderShipped("o1", P("9.00")))
    given(Order, *shipped, id="o1").when(lambda o: o.cancel("late")).then_raises(
        CannotCancelShipped
    )
    given(Order, CREATED, OrderCancelled("o1", "x"), id="o1").when(
        lambda o: o.cancel("again")
    ).then_raises(AlreadyCancelled)
    given(Order, CREATED, id="o1").when(lambda o: o.cancel("")).then_raises(InvalidInput)


@pytest.mark.parametrize("quantity", [0, -1, 1001, True, 2.0, "3"])
def test_quantities_are_validated(quantity: object) -> None:
    given(Order, CREATED, id="o1").when(
        lambda o: o.add_item("tea", quantity, P("1.00"))  # type: ignore[arg-type]
    ).then_raises(InvalidInput, match="quantity")


@pytest.mark.parametrize(
    "price", [P("0"), P("-1.00"), P("0.001"), P("NaN"), P("Infinity"), P("100000.01"), 1.5, "2"]
)
def test_prices_are_validated(price: object) -> None:
    given(Order, CREATED, id="o1").when(
        lambda o: o.add_item("tea", 1, price)  # type: ignore[arg-type]
    ).then_raises(InvalidInput, match="unit_price")


@pytest.mark.parametrize("sku", ["", " tea", "tea\x00", "x" * 65, "-tea", 7])
def test_skus_are_validated(sku: object) -> None:
    given(Order, CREATED, id="o1").when(
        lambda o: o.add_item(sku, 1, P("1.00"))  # type: ignore[arg-type]
    ).then_raises(InvalidInput, match="sku")


def test_lines_per_order_are_bounded() -> None:
    many = [ItemAdded("o1", f"s{n}", 1, P("1.00")) for n in range(50)]
    given(Order, CREATED, *many, id="o1").when(
        lambda o: o.add_item("one-more", 1, P("1.00"))
    ).then_raises(TooManyLines)
    given(Order, CREATED, ItemAdded("o1", "tea", 1000, P("1.00")), id="o1").when(
        lambda o: o.add_item("tea", 1, P("1.00"))
    ).then_raises(TooManyLines)


def test_created_v1_is_upcast(registry: fs.EventRegistry) -> None:
    old = fs.RecordedEvent(
        fs.uuid7(),
        "OrderCreated",
        {"order_id": "o1", "customer": "ada"},
        {},
        "order-o1",
        1,
        1,
        dt.datetime.now(dt.UTC),
        schema_version=1,
    )
    assert registry.decode(old) == OrderCreated("o1", "ada", "EUR")


def test_money_is_stored_as_decimal_strings(registry: fs.EventRegistry) -> None:
    new = registry.to_new_event(TEA)
    assert new.data["unit_price"] == "4.50"
    assert registry.to_new_event(CONFIRMED).data["total"] == "9.00"
