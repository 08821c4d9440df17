"""A small set of order events used to show and test the schema tools.

``registry`` is the current contract. ``safe_registry`` and ``breaking_registry`` are the same
contract after a safe and a breaking change, for ``factstream schema check``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any

import msgspec

from factstream import EventRegistry


class Line(msgspec.Struct, frozen=True):
    """One line of an order."""

    sku: str
    quantity: int
    price: decimal.Decimal


class OrderCreated(msgspec.Struct, frozen=True):
    """A customer opened an order."""

    order_id: str
    customer_id: str
    currency: str
    created_at: dt.datetime


class ItemAdded(msgspec.Struct, frozen=True):
    """An item was added to an order."""

    order_id: str
    line: Line


@dataclasses.dataclass(frozen=True)
class OrderPlaced:
    """The customer confirmed the order."""

    order_id: str
    lines: list[Line]
    note: str = ""


def currency_from_country(data: dict[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """v1 had a country, v2 has a currency (every v1 order was placed in the euro zone)."""
    upcast = {k: v for k, v in data.items() if k != "country"}
    upcast["currency"] = "EUR"
    return upcast


def build() -> EventRegistry:
    """The current contracts."""
    registry = EventRegistry()
    registry.register(
        OrderCreated, name="OrderCreated", version=2, upcasters={1: currency_from_country}
    )
    registry.register(ItemAdded, name="ItemAdded")
    registry.register(OrderPlaced, name="OrderPlaced")
    return registry


registry = build()


class ItemAddedWithGift(msgspec.Struct, frozen=True):
    """An item was added to an order."""

    order_id: str
    line: Line
    gift: bool = False


class OrderCancelled(msgspec.Struct, frozen=True):
    """The order was cancelled."""

    order_id: str


def build_safe() -> EventRegistry:
    """A safe evolution: a new optional field and a new type."""
    registry = EventRegistry()
    registry.register(
        OrderCreated, name="OrderCreated", version=2, upcasters={1: currency_from_country}
    )
    registry.register(ItemAddedWithGift, name="ItemAdded")
    registry.register(OrderPlaced, name="OrderPlaced")
    registry.register(OrderCancelled, name="OrderCancelled")
    return registry


class ItemAddedBroken(msgspec.Struct, frozen=True):
    """An item was added to an order."""

    order_id: int
    line: Line
    reason: str


def build_breaking() -> EventRegistry:
    """A breaking change: a field's type changed, a required field added, a type removed."""
    registry = EventRegistry()
    registry.register(
        OrderCreated, name="OrderCreated", version=2, upcasters={1: currency_from_country}
    )
    registry.register(ItemAddedBroken, name="ItemAdded")
    return registry


safe_registry = build_safe()
breaking_registry = build_breaking()
