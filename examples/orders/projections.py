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

    event_types = frozenset(
        {
            "OrderCreated",
            "ItemAdded",
            "ItemRemoved",
            "OrderConfirmed",
            "OrderShipped",
            "OrderCancelled",
        }
    )

    def __init__(self, registry: fs.EventRegistry, on_changed: Changed | None = None) -> None:
        super().__init__()
        self.registry = registry
        self.on_changed = on_changed

    async def apply(self, events: Sequence[fs.RecordedEvent], tx: fs.SqlTransaction) -> None:
        """Apply a batch with few statements: new orders, then line changes (in event order),
        then status changes (in event order), then one recount and one touch per order. The
        SQL transaction sends each run of one statement as one ``executemany``, so a batch is
        a handful of round trips on PostgreSQL however many events it holds."""
        decode = self.registry.decode
        created: list[tuple[object, ...]] = []
        lines: list[tuple[str, tuple[object, ...]]] = []
        statuses: list[tuple[object, ...]] = []
        touched: dict[str, fs.RecordedEvent] = {}
        upsert = self._upsert_line(tx)
        for event in events:
            data = decode(event)
            if isinstance(data, OrderCreated):
                at = event.timestamp.isoformat()
                created.append((data.order_id, data.customer_id, data.currency, at, at))
            elif isinstance(data, ItemAdded):
                price = cents(data.unit_price)
                lines.append((upsert, (data.order_id, data.sku, data.quantity, price)))
            elif isinstance(data, ItemRemoved):
                lines.append((_DELETE_LINE, (data.order_id, data.sku)))
            elif isinstance(data, OrderConfirmed):
                statuses.append(("confirmed", None, data.order_id))
            elif isinstance(data, OrderShipped):
                statuses.append(("shipped", None, data.order_id))
            elif isinstance(data, OrderCancelled):
                statuses.append(("cancelled", data.reason, data.order_id))
            else:
                continue
            touched[event.stream_id.removeprefix("order-")] = event
        tx.executemany(
            "INSERT INTO {orders} (order_id, customer_id, currency, status, total_cents, units, "
            "created_at, updated_at, version, position) VALUES (?, ?, ?, 'open', 0, 0, ?, ?, 0, 0)",
            created,
        )
        for sql, params in lines:
            tx.execute(sql, params)
        tx.executemany(
            "UPDATE {orders} SET status = ?, reason = COALESCE(?, reason) WHERE order_id = ?",
            statuses,
        )
        tx.executemany(
            "UPDATE {orders} SET "
            "total_cents = (SELECT COALESCE(SUM(quantity * unit_price_cents), 0) "
            "FROM {order_lines} WHERE order_id = ?), "
            "units = (SELECT COALESCE(SUM(quantity), 0) FROM {order_lines} WHERE order_id = ?), "
            "updated_at = ?, version = ?, position = ? WHERE order_id = ?",
            [
                (oid, oid, e.timestamp.isoformat(), e.version, e.position, oid)
                for oid, e in touched.items()
            ],
        )
        on_changed = self.on_changed
        if on_changed is not None and touched:
            changed = {order_id: event.position for order_id, event in touched.items()}

            async def notify() -> None:
                await on_changed(changed)

            tx.after_commit(notify)

    @staticmethod
    def _upsert_line(tx: fs.SqlTransaction) -> str:
        return (
            "INSERT INTO {order_lines} (order_id, sku, quantity, unit_price_cents) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (order_id, sku) DO UPDATE SET "
            f"quantity = {tx.table('order_lines')}.quantity + excluded.quantity"
        )


_DELETE_LINE = "DELETE FROM {order_lines} WHERE order_id = ? AND sku = ?"


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
