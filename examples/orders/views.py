"""What the order queries answer: immutable views built from the read models."""

from __future__ import annotations

from decimal import Decimal

import msgspec

__all__ = ["DailyRevenue", "OrderLineView", "OrderSummary", "OrderView"]


class OrderLineView(msgspec.Struct, frozen=True):
    sku: str
    quantity: int
    unit_price: Decimal


class OrderSummary(msgspec.Struct, frozen=True):
    order_id: str
    customer_id: str
    currency: str
    status: str
    total: Decimal
    units: int
    created_at: str
    updated_at: str
    version: int
    position: int
    reason: str | None = None


class OrderView(OrderSummary, frozen=True):
    """An order with its lines, as the read model knows it (``position``: its last event)."""

    lines: tuple[OrderLineView, ...] = ()


class DailyRevenue(msgspec.Struct, frozen=True):
    day: str
    orders: int
    revenue: Decimal
