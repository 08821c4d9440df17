"""Stock per SKU and stock reservations per order: the write side the fulfilment saga drives.

``Stock`` (stream ``stock-<sku>``) knows how many units are available and which orders hold
how many. ``Reservation`` (stream ``reservation-<order_id>``) records the outcome for one
order: reserved (with its lines), rejected (a SKU was short), or released (the order was
cancelled after reserving). Both are idempotent per order, so a saga step that runs twice
(at-least-once delivery, a retried command) changes nothing the second time.
"""

from __future__ import annotations

import msgspec

import factstream as fs

from .domain import check_identifier, check_quantity
from .errors import InvalidInput

__all__ = [
    "Reservation",
    "ReservationConfirmed",
    "ReservationRejected",
    "ReservationReleased",
    "ReservedLine",
    "Stock",
    "StockReceived",
    "StockReleased",
    "StockReserved",
    "register_events",
]

MAX_RECEIVED = 1_000_000


class ReservedLine(msgspec.Struct, frozen=True):
    """Units of one SKU held for an order."""

    sku: str
    quantity: int


class StockReceived(msgspec.Struct, frozen=True):
    """Units of a SKU arrived at the warehouse."""

    sku: str
    quantity: int


class StockReserved(msgspec.Struct, frozen=True):
    """Units of a SKU were set aside for an order."""

    sku: str
    order_id: str
    quantity: int


class StockReleased(msgspec.Struct, frozen=True):
    """An order's units of a SKU went back to the available stock."""

    sku: str
    order_id: str
    quantity: int


class ReservationConfirmed(msgspec.Struct, frozen=True):
    """Every line of a confirmed order is reserved: it can ship."""

    order_id: str
    lines: tuple[ReservedLine, ...]


class ReservationRejected(msgspec.Struct, frozen=True):
    """A SKU of the order is short: the order cannot ship."""

    order_id: str
    sku: str
    requested: int
    available: int


class ReservationReleased(msgspec.Struct, frozen=True):
    """The order's reserved units were given back (the order was cancelled)."""

    order_id: str


def register_events(events: fs.EventRegistry) -> None:
    """Register the inventory's events in ``events``."""
    events.register(StockReceived, name="StockReceived")
    events.register(StockReserved, name="StockReserved")
    events.register(StockReleased, name="StockReleased")
    events.register(ReservationConfirmed, name="ReservationConfirmed")
    events.register(ReservationRejected, name="ReservationRejected")
    events.register(ReservationReleased, name="ReservationReleased")


class Stock(fs.Aggregate, category="stock"):
    """The stock of one SKU. ``available`` never goes below zero."""

    available: int
    held: dict[str, int]

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.available = 0
        self.held = {}

    def receive(self, quantity: int) -> None:
        """Add ``quantity`` units.

        Raises:
            InvalidInput: not an int from 1 to 1,000,000.
        """
        check_identifier(self.id, "sku")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise InvalidInput(f"quantity must be an integer: {quantity!r}")
        if not 1 <= quantity <= MAX_RECEIVED:
            raise InvalidInput(f"quantity must be from 1 to {MAX_RECEIVED}: {quantity}")
        self._record(StockReceived(self.id, quantity))

    def can_reserve(self, order_id: str, quantity: int) -> bool:
        """Whether ``order_id`` holds these units already or they are available."""
        return order_id in self.held or self.available >= quantity

    def reserve(self, order_id: str, quantity: int) -> None:
        """Hold ``quantity`` units for ``order_id`` (nothing if it holds some already).

        Raises:
            InvalidInput: a bad quantity, or more than is available (check first).
        """
        check_quantity(quantity)
        if order_id in self.held:
            return
        if self.available < quantity:
            raise InvalidInput(f"{self.id}: {quantity} wanted, {self.available} available")
        self._record(StockReserved(self.id, order_id, quantity))

    def release(self, order_id: str) -> None:
        """Give back what ``order_id`` holds (nothing if it holds nothing)."""
        quantity = self.held.get(order_id)
        if quantity is not None:
            self._record(StockReleased(self.id, order_id, quantity))

    @fs.applies(StockReceived)
    def _received(self, event: StockReceived) -> None:
        self.available += event.quantity

    @fs.applies(StockReserved)
    def _reserved(self, event: StockReserved) -> None:
        self.available -= event.quantity
        self.held = {**self.held, event.order_id: event.quantity}

    @fs.applies(StockReleased)
    def _released(self, event: StockReleased) -> None:
        self.available += event.quantity
        self.held = {k: v for k, v in self.held.items() if k != event.order_id}


class Reservation(fs.Aggregate, category="reservation"):
    """The stock reservation of one order: ``new`` -> ``reserved`` | ``rejected``;
    ``reserved`` -> ``released``."""

    status: str
    lines: tuple[ReservedLine, ...]

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.status = "new"
        self.lines = ()

    def confirm(self, lines: tuple[ReservedLine, ...]) -> None:
        if self.status == "new":
            self._record(ReservationConfirmed(self.id, lines))

    def reject(self, sku: str, requested: int, available: int) -> None:
        if self.status == "new":
            self._record(ReservationRejected(self.id, sku, requested, available))

    def release(self) -> None:
        if self.status == "reserved":
            self._record(ReservationReleased(self.id))

    @fs.applies(ReservationConfirmed)
    def _confirmed(self, event: ReservationConfirmed) -> None:
        self.status = "reserved"
        self.lines = event.lines

    @fs.applies(ReservationRejected)
    def _rejected(self, event: ReservationRejected) -> None:
        self.status = "rejected"

    @fs.applies(ReservationReleased)
    def _released(self, event: ReservationReleased) -> None:
        self.status = "released"
