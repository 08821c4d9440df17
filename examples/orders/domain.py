"""The ``Order`` aggregate, its events, the validation of values, and the event registry.

Events are frozen msgspec Structs registered under stable names (never import paths) with
schema versions. Money is a :class:`decimal.Decimal` with at most two decimal places, stored as
a JSON string (``"9.99"``): never a float.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec

import factstream as fs

from .errors import (
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

__all__ = [
    "MAX_LINES",
    "MAX_PRICE",
    "MAX_QUANTITY",
    "ItemAdded",
    "ItemRemoved",
    "Line",
    "Order",
    "OrderCancelled",
    "OrderConfirmed",
    "OrderCreated",
    "OrderLine",
    "OrderShipped",
    "cents",
    "check_identifier",
    "check_price",
    "check_quantity",
    "registry",
]

MAX_QUANTITY = 1000
"""The most units of one SKU in one order."""
MAX_LINES = 50
"""The most different SKUs in one order."""
MAX_PRICE = Decimal("100000.00")
"""The highest unit price."""
MAX_REASON = 500
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_TWO_PLACES = Decimal("0.01")


# -- values -------------------------------------------------------------------------------


def check_identifier(value: object, what: str) -> str:
    """``value`` if it is a usable id (1 to 64 of ``A-Z a-z 0-9 . _ : -``, starting
    alphanumeric), else :class:`InvalidInput`."""
    if not isinstance(value, str) or _IDENTIFIER.fullmatch(value) is None:
        raise InvalidInput(
            f"{what} must be 1 to 64 letters, digits, '.', '_', ':' or '-': {value!r}"
        )
    return value


def check_quantity(value: object) -> int:
    """``value`` if it is an int from 1 to :data:`MAX_QUANTITY`, else :class:`InvalidInput`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise InvalidInput(f"quantity must be an integer from 1 to {MAX_QUANTITY}: {value!r}")
    return value


def check_price(value: object) -> Decimal:
    """``value`` if it is a Decimal from 0.01 to :data:`MAX_PRICE` with at most two decimal
    places, else :class:`InvalidInput`."""
    if (
        not isinstance(value, Decimal)
        or not value.is_finite()
        or not _TWO_PLACES <= value <= MAX_PRICE
        or value != value.quantize(_TWO_PLACES)
    ):
        raise InvalidInput(
            f"unit_price must be a decimal from 0.01 to {MAX_PRICE} with at most two decimal "
            f"places: {value!r}"
        )
    return value


def cents(amount: Decimal) -> int:
    """``amount`` (at most two decimal places) as an integer number of cents."""
    return int(amount.scaleb(2).to_integral_exact())


# -- events -------------------------------------------------------------------------------


class OrderLine(msgspec.Struct, frozen=True):
    """One SKU of an order."""

    sku: str
    quantity: int
    unit_price: Decimal


class OrderCreated(msgspec.Struct, frozen=True):
    """A customer opened an order."""

    order_id: str
    customer_id: str
    currency: str = "EUR"


class ItemAdded(msgspec.Struct, frozen=True):
    """Units of a SKU were added to an open order (to its line, if the SKU is in it)."""

    order_id: str
    sku: str
    quantity: int
    unit_price: Decimal


class ItemRemoved(msgspec.Struct, frozen=True):
    """A SKU's line was removed from an open order."""

    order_id: str
    sku: str


class OrderConfirmed(msgspec.Struct, frozen=True):
    """The customer confirmed the order: its lines and total are final."""

    order_id: str
    total: Decimal
    lines: tuple[OrderLine, ...]


class OrderShipped(msgspec.Struct, frozen=True):
    """The order left the warehouse; its total is revenue."""

    order_id: str
    total: Decimal


class OrderCancelled(msgspec.Struct, frozen=True):
    """The order was cancelled (by the customer, or for lack of stock)."""

    order_id: str
    reason: str


def customer_id_from_customer(data: dict[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """OrderCreated v1 -> v2: v1 called the field ``customer`` and had no currency; every v1
    order was in euros."""
    lifted = {key: value for key, value in data.items() if key != "customer"}
    lifted["customer_id"] = data.get("customer", "")
    lifted.setdefault("currency", "EUR")
    return lifted


def registry() -> fs.EventRegistry:
    """A new registry of every event of the orders system (orders, stock, reservations).

    A function rather than a module-level object: no global state. The CLI accepts it as
    ``factstream schema export --module examples.orders.domain:registry``.
    """
    from . import inventory

    events = fs.EventRegistry()
    events.register(
        OrderCreated, name="OrderCreated", version=2, upcasters={1: customer_id_from_customer}
    )
    events.register(ItemAdded, name="ItemAdded")
    events.register(ItemRemoved, name="ItemRemoved")
    events.register(OrderConfirmed, name="OrderConfirmed")
    events.register(OrderShipped, name="OrderShipped")
    events.register(OrderCancelled, name="OrderCancelled")
    inventory.register_events(events)
    return events


# -- the aggregate ------------------------------------------------------------------------


class Line(msgspec.Struct, frozen=True):
    """A line of the aggregate's state."""

    quantity: int
    unit_price: Decimal


class Order(fs.Aggregate, category="order"):
    """An order: open (items may change) -> confirmed -> shipped, or cancelled before shipping.

    Invariants: items change only while open; quantities from 1 to :data:`MAX_QUANTITY` per
    SKU, at most :data:`MAX_LINES` SKUs; unit prices from 0.01 to :data:`MAX_PRICE` with two
    decimal places, one price per SKU; only a non-empty open order is confirmed; only a
    confirmed order is shipped; a shipped order is never cancelled.
    """

    customer_id: str
    currency: str
    status: str
    lines: dict[str, Line]

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.customer_id = ""
        self.currency = "EUR"
        self.status = "new"
        self.lines = {}

    @property
    def total(self) -> Decimal:
        """The sum of quantity x unit price over the lines."""
        return sum(
            (line.unit_price * line.quantity for line in self.lines.values()), Decimal("0.00")
        )

    # -- decisions --------------------------------------------------------------------------

    @classmethod
    def create(cls, order_id: str, customer_id: str, currency: str = "EUR") -> Order:
        """A new open order.

        Raises:
            InvalidInput: a malformed id or currency.
        """
        order = cls(check_identifier(order_id, "order_id"))
        if not isinstance(currency, str) or re.fullmatch(r"[A-Z]{3}", currency) is None:
            raise InvalidInput(f"currency must be three capital letters (ISO 4217): {currency!r}")
        order._record(
            OrderCreated(order_id, check_identifier(customer_id, "customer_id"), currency)
        )
        return order

    def add_item(self, sku: str, quantity: int, unit_price: Decimal) -> None:
        """Add ``quantity`` units of ``sku`` at ``unit_price``.

        Raises:
            InvalidInput, OrderNotOpen, PriceMismatch, TooManyLines
        """
        check_identifier(sku, "sku")
        check_quantity(quantity)
        unit_price = check_price(unit_price).quantize(_TWO_PLACES)  # one spelling: "9.90"
        self._require_open("add items to")
        line = self.lines.get(sku)
        if line is None:
            if len(self.lines) >= MAX_LINES:
                raise TooManyLines(f"order {self.id} holds {MAX_LINES} SKUs already")
        else:
            if line.unit_price != unit_price:
                raise PriceMismatch(
                    f"{sku} is in order {self.id} at {line.unit_price}, not {unit_price}"
                )
            if line.quantity + quantity > MAX_QUANTITY:
                raise TooManyLines(f"order {self.id} would hold over {MAX_QUANTITY} of {sku}")
        self._record(ItemAdded(self.id, sku, quantity, unit_price))

    def remove_item(self, sku: str) -> None:
        """Remove the line of ``sku``.

        Raises:
            OrderNotOpen, ItemNotInOrder
        """
        self._require_open("remove items from")
        if sku not in self.lines:
            raise ItemNotInOrder(f"{sku!r} is not in order {self.id}")
        self._record(ItemRemoved(self.id, sku))

    def confirm(self) -> None:
        """Freeze the lines and the total.

        Raises:
            OrderNotOpen, EmptyOrder
        """
        self._require_open("confirm")
        if not self.lines:
            raise EmptyOrder(f"order {self.id} has no items")
        lines = tuple(
            OrderLine(sku, line.quantity, line.unit_price)
            for sku, line in sorted(self.lines.items())
        )
        self._record(OrderConfirmed(self.id, self.total, lines))

    def ship(self) -> None:
        """Ship a confirmed order.

        Raises:
            CannotShip: the order is cancelled, or not confirmed yet.
            AlreadyShipped
        """
        if self.status == "shipped":
            raise AlreadyShipped(f"order {self.id} is shipped already")
        if self.status != "confirmed":
            raise CannotShip(f"order {self.id} is {self.status}; only a confirmed order ships")
        self._record(OrderShipped(self.id, self.total))

    def cancel(self, reason: str) -> None:
        """Cancel an order that has not shipped.

        Raises:
            InvalidInput: the reason is not a short text.
            CannotCancelShipped, AlreadyCancelled
        """
        if not isinstance(reason, str) or not 0 < len(reason) <= MAX_REASON or "\x00" in reason:
            raise InvalidInput(f"reason must be 1 to {MAX_REASON} characters of text")
        if self.status == "shipped":
            raise CannotCancelShipped(f"order {self.id} is shipped")
        if self.status == "cancelled":
            raise AlreadyCancelled(f"order {self.id} is cancelled already")
        self._record(OrderCancelled(self.id, reason))

    def _require_open(self, action: str) -> None:
        if self.status != "open":
            raise OrderNotOpen(f"cannot {action} order {self.id}: it is {self.status}")

    # -- state ------------------------------------------------------------------------------

    @fs.applies(OrderCreated)
    def _created(self, event: OrderCreated) -> None:
        self.customer_id = event.customer_id
        self.currency = event.currency
        self.status = "open"

    @fs.applies(ItemAdded)
    def _item_added(self, event: ItemAdded) -> None:
        line = self.lines.get(event.sku)
        quantity = event.quantity + (0 if line is None else line.quantity)
        self.lines = {**self.lines, event.sku: Line(quantity, event.unit_price)}

    @fs.applies(ItemRemoved)
    def _item_removed(self, event: ItemRemoved) -> None:
        self.lines = {sku: line for sku, line in self.lines.items() if sku != event.sku}

    @fs.applies(OrderConfirmed)
    def _confirmed(self, event: OrderConfirmed) -> None:
        self.status = "confirmed"

    @fs.applies(OrderShipped)
    def _shipped(self, event: OrderShipped) -> None:
        self.status = "shipped"

    @fs.applies(OrderCancelled)
    def _cancelled(self, event: OrderCancelled) -> None:
        self.status = "cancelled"
