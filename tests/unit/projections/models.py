"""Projections used by the read-side tests: an orders list and revenue per day."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import factstream as fs
from factstream.projections import Projection, SqlTransaction, handles


class OrdersByCustomer(Projection[SqlTransaction]):
    """A list with an index: each order's customer, item count and total."""

    name = "orders_by_customer"
    tables = {  # noqa: RUF012 - class-level declaration read by the framework
        "orders": (
            "CREATE TABLE {orders} (order_id TEXT PRIMARY KEY, customer TEXT NOT NULL, "
            "items BIGINT NOT NULL DEFAULT 0, total BIGINT NOT NULL DEFAULT 0, "
            "last_position BIGINT NOT NULL)"
        ),
    }
    indexes = ("CREATE INDEX {orders}_customer ON {orders} (customer, order_id)",)

    @handles("OrderCreated")
    def created(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
        tx.execute(
            "INSERT INTO {orders} (order_id, customer, last_position) VALUES (?, ?, ?)",
            (event.stream_id, event.data["customer"], event.position),
        )

    @handles("ItemAdded")
    def item_added(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
        # Not idempotent on purpose: applying an event twice shows in the numbers.
        tx.execute(
            "UPDATE {orders} SET items = items + 1, total = total + ?, last_position = ? "
            "WHERE order_id = ?",
            (event.data["price"], event.position, event.stream_id),
        )


class RevenuePerDay(Projection[SqlTransaction]):
    """A materialized aggregate, batch-aware: one upsert per day per batch."""

    name = "revenue_per_day"
    tables = {  # noqa: RUF012
        "revenue": (
            "CREATE TABLE {revenue} (day TEXT PRIMARY KEY, amount BIGINT NOT NULL, "
            "items BIGINT NOT NULL)"
        ),
    }
    event_types = frozenset({"ItemAdded"})

    async def apply(self, events: Sequence[fs.RecordedEvent], tx: SqlTransaction) -> None:
        per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for event in events:
            totals = per_day[event.data["day"]]
            totals[0] += event.data["price"]
            totals[1] += 1
        tx.executemany(
            "INSERT INTO {revenue} (day, amount, items) VALUES (?, ?, ?) "
            "ON CONFLICT (day) DO UPDATE SET amount = {revenue}.amount + excluded.amount, "
            "items = {revenue}.items + excluded.items",
            [(day, amount, items) for day, (amount, items) in sorted(per_day.items())],
        )


def order_events(
    customer: str, prices: Sequence[int], day: str = "2024-05-01"
) -> list[fs.NewEvent]:
    return [
        fs.NewEvent("OrderCreated", {"customer": customer}),
        *(fs.NewEvent("ItemAdded", {"price": price, "day": day}) for price in prices),
    ]
