"""SQL read models of the orders system, kept up to date by projection runners.

- ``orders``: one row per order (status, customer, total in cents, units, versions) and its
  lines in ``order_lines``; indexed by customer for ``get_orders_by_customer``.
- ``revenue_per_day``: a materialized aggregate: orders shipped and revenue per UTC day,
  upserted once per day per batch.

Handlers decode events through the registry, so old event versions are upcast before use.
Money is kept in integer cents: sums in SQL are exact on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar

import factstream as fs

from .domain import (
    ItemAdded,
    ItemRemoved,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderShipped,
    cents,
)

__all__ = ["OrdersProjection", "RevenuePerDay"]

Changed = Callable[[dict[str, int]], Awaitable[None]]
"""Called after a batch committed with ``{order_id: position of its last event}``."""


class OrdersProjection(fs.Projection[fs.SqlTransaction]):
    """Orders and their lines, for ``get_order`` and ``get_orders_by_customer``.

    Args:
        registry: decodes (and upcasts) the events.
        on_changed: called after each committed batch with the orders it changed (the Redis
            cache's invalidation).
    """

    name = "orders"
    version = 1
    tables: ClassVar[dict[str, str]] = {
        "orders": (
            "CREATE TABLE {orders} (order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, "
            "currency TEXT NOT NULL, status TEXT NOT NULL, total_cents BIGINT NOT NULL, "
            "units BIGINT NOT NULL, reason TEXT, created_at TEXT NOT NULL, "
            "updated_at TEXT NOT NULL, version BIGINT NOT NULL, position BIGINT NOT NULL)"
        ),
        "order_lines": (
            "CREATE TABLE {order_lines} (order_id TEXT NOT NULL, sku TEXT NOT NULL, "
            "quantity BIGINT NOT NULL, unit_price_cents BIGINT NOT NULL, "
            "PRIMARY KEY (order_id, sku))"
        ),
    }
    indexes: ClassVar[list[str]] = [
        "CREATE INDEX {orders}_customer ON {orders} (customer_id, created_at)",
        "CREATE INDEX {orders}_status ON {orders} (status)",
    ]

    def __init__(self, registry: fs.EventRegistry, on_changed: Changed | None = None) -> None:
        super().__init__()
        self.registry = registry
        self.on_changed = on_changed

    async def apply(self, events: Sequence[fs.RecordedEvent], tx: fs.SqlTransaction) -> None:
        await super().apply(events, tx)
        on_changed = self.on_changed
        if on_changed is not None and events:
            changed = {e.stream_id.removeprefix("order-"): e.position for e in events}

            async def notify() -> None:
                await on_changed(changed)

            tx.after_commit(notify)

    def _touch(self, event: fs.RecordedEvent, tx: fs.SqlTransaction, order_id: str) -> None:
        tx.execute(
            "UPDATE {orders} SET updated_at = ?, version = ?, position = ? WHERE order_id = ?",
            (event.timestamp.isoformat(), event.version, event.position, order_id),
        )

    @fs.handles("OrderCreated")
    def created(self, event: fs.RecordedEvent, tx: fs.SqlTransaction) -> None:
        data = self.registry.decode(event)
        assert isinstance(data, OrderCreated)
        at = event.timestamp.isoformat()
        tx.execute(
            "INSERT INTO {orders} (order_id, customer_id, currency, status, total_cents, units, "
            "created_at, updated_at, version, position) VALUES (?, ?, ?, 'open', 0, 0, ?, ?, ?, ?)",
            (data.order_id, data.customer_id, data.currency, at, at, event.version, event.position),
        )

    def _recount(self, tx: fs.SqlTransaction, order_id: str) -> None:
        tx.execute(
            "UPDATE {orders} SET "
            "total_cents = (SELECT COALESCE(SUM(quantity * unit_price_cents), 0) "
            "FROM {order_lines} WHERE order_id = ?), "
            "units = (SELECT COALESCE(SUM(quantity), 0) FROM {order_lines} WHERE order_id = ?) "
            "WHERE order_id = ?",
            (order_id, order_id, order_id),
        )

    @fs.handles("ItemAdded")
    def item_added(self, event: fs.RecordedEvent, tx: fs.SqlTransaction) -> None:
        data = self.registry.decode(event)
        assert isinstance(data, ItemAdded)
        lines = tx.table("order_lines")
        tx.execute(
            "INSERT INTO {order_lines} (order_id, sku, quantity, unit_price_cents) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (order_id, sku) DO UPDATE SET "
            f"quantity = {lines}.quantity + excluded.quantity",
            (data.order_id, data.sku, data.quantity, cents(data.unit_price)),
        )
        self._recount(tx, data.order_id)
        self._touch(event, tx, data.order_id)

    @fs.handles("ItemRemoved")
    def item_removed(self, event: fs.RecordedEvent, tx: fs.SqlTransaction) -> None:
        data = self.registry.decode(event)
        assert isinstance(data, ItemRemoved)
        tx.execute(
            "DELETE FROM {order_lines} WHERE order_id = ? AND sku = ?", (data.order_id, data.sku)
        )
        self._recount(tx, data.order_id)
        self._touch(event, tx, data.order_id)

    @fs.handles("OrderConfirmed")
    def confirmed(self, event: fs.RecordedEvent, tx: fs.SqlTransaction) -> None:
        data = self.registry.decode(event)
        assert isinstance(data, OrderConfirmed)
        tx.execute(
            "UPDATE {orders} SET status = 'confirmed', total_cents = ? WHERE order_id = ?",
            (cents(data.total), data.order_id),
        )
        self._touch(event, tx, data.order_id)

    @fs.handles("OrderShipped")
    def shipped(self, event: fs.RecordedEvent, tx: fs.SqlTransaction) -> None:
        data = self.registry.decode(event)
        assert isinstance(data, OrderShipped)
        tx.execute("UPDATE {orders} SET status = 'shipped' WHERE order_id = ?", (data.order_id,))
        self._touch(event, tx, data.order_id)

    @fs.handles("OrderCancelled")
    def cancelled(self, event: fs.RecordedEvent, tx: fs.SqlTransaction) -> None:
        data = self.registry.decode(event)
        assert isinstance(data, OrderCancelled)
        tx.execute(
            "UPDATE {orders} SET status = 'cancelled', reason = ? WHERE order_id = ?",
            (data.reason, data.order_id),
        )
        self._touch(event, tx, data.order_id)


class RevenuePerDay(fs.Projection[fs.SqlTransaction]):
    """Shipped orders and revenue per UTC day (the day the order shipped): a materialized
    view, one upsert per day per batch however many orders the batch holds."""

    name = "revenue_per_day"
    version = 1
    tables: ClassVar[dict[str, str]] = {
        "revenue_per_day": (
            "CREATE TABLE {revenue_per_day} (day TEXT PRIMARY KEY, orders BIGINT NOT NULL, "
            "revenue_cents BIGINT NOT NULL)"
        ),
    }
    event_types = frozenset({"OrderShipped"})

    def __init__(self, registry: fs.EventRegistry) -> None:
        super().__init__()
        self.registry = registry

    async def apply(self, events: Sequence[fs.RecordedEvent], tx: fs.SqlTransaction) -> None:
        days: dict[str, list[int]] = {}
        for event in events:
            data = self.registry.decode(event)
            if not isinstance(data, OrderShipped):
                continue
            day = days.setdefault(event.timestamp.date().isoformat(), [0, 0])
            day[0] += 1
            day[1] += cents(data.total)
        table = tx.table("revenue_per_day")
        tx.executemany(
            "INSERT INTO {revenue_per_day} (day, orders, revenue_cents) VALUES (?, ?, ?) "
            f"ON CONFLICT (day) DO UPDATE SET orders = {table}.orders + excluded.orders, "
            f"revenue_cents = {table}.revenue_cents + excluded.revenue_cents",
            [(day, count, amount) for day, (count, amount) in sorted(days.items())],
        )
