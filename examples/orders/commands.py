"""The commands of the orders system: plain frozen msgspec Structs, typed for the bus."""

from __future__ import annotations

from decimal import Decimal

import msgspec

import factstream as fs

from .inventory import ReservedLine

__all__ = [
    "AddItem",
    "CancelOrder",
    "ConfirmOrder",
    "CreateOrder",
    "ReceiveStock",
    "ReleaseStock",
    "RemoveItem",
    "ReserveStock",
    "ShipOrder",
    "new_order_id",
]

Result = fs.AppendResult | None


def new_order_id() -> str:
    """A new order id: a time-ordered UUIDv7 as text."""
    return str(fs.uuid7())


class CreateOrder(msgspec.Struct, fs.Command[Result], frozen=True):
    order_id: str
    customer_id: str
    currency: str = "EUR"


class AddItem(msgspec.Struct, fs.Command[Result], frozen=True):
    order_id: str
    sku: str
    quantity: int
    unit_price: Decimal


class RemoveItem(msgspec.Struct, fs.Command[Result], frozen=True):
    order_id: str
    sku: str


class ConfirmOrder(msgspec.Struct, fs.Command[Result], frozen=True):
    order_id: str


class ShipOrder(msgspec.Struct, fs.Command[Result], frozen=True):
    order_id: str


class CancelOrder(msgspec.Struct, fs.Command[Result], frozen=True):
    order_id: str
    reason: str = "cancelled by the customer"


class ReceiveStock(msgspec.Struct, fs.Command[Result], frozen=True):
    sku: str
    quantity: int


class ReserveStock(msgspec.Struct, fs.Command[Result], frozen=True):
    """Reserve every line of an order, or none (sent by the saga)."""

    order_id: str
    lines: tuple[ReservedLine, ...]


class ReleaseStock(msgspec.Struct, fs.Command[Result], frozen=True):
    """Give back what an order reserved, if anything (sent by the saga)."""

    order_id: str
