"""Consistency checks of a settled orders system: the read models against the log.

Everything derived is checked against the source of truth: each order in the read model
against the aggregate replayed from its stream, the revenue view against the shipments in the
log, each SKU's stock aggregate (loaded through its snapshots) against a fold of its events,
the saga's outcome of every confirmed order, and the dead letters (there must be none).
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from factstream.projections import DeadLetters

from .compose import OrdersSystem
from .domain import OrderShipped, cents
from .inventory import StockReceived, StockReleased, StockReserved

__all__ = ["AuditReport", "audit", "read_model_rows"]


@dataclass
class AuditReport:
    """What the audit found. ``problems`` is empty when everything agrees."""

    events: int = 0
    orders: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    revenue: Decimal = Decimal("0.00")
    skus: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.problems


async def read_model_rows(system: OrdersSystem) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the read models' views, sorted (to compare two generations)."""
    query = system.reader.query
    return {
        "orders": sorted(await query("SELECT * FROM orders")),
        "order_lines": sorted(await query("SELECT * FROM order_lines")),
        "revenue_per_day": sorted(await query("SELECT * FROM revenue_per_day")),
    }


async def audit(system: OrdersSystem, *, limit_problems: int = 20) -> AuditReport:
    """Check a settled system (nothing being written); see the module docs."""
    report = AuditReport()
    problems = report.problems
    registry = system.registry
    orders_ids: list[str] = []
    shipped_per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    stock_fold: dict[str, dict[str, Any]] = {}
    async for event in system.store.read_all():
        report.events += 1
        stream = event.stream_id
        if stream.startswith("order-") and event.version == 1:
            orders_ids.append(stream.removeprefix("order-"))
        if event.type == "OrderShipped":
            shipped = registry.decode(event)
            assert isinstance(shipped, OrderShipped)
            day = shipped_per_day[event.timestamp.date().isoformat()]
            day[0] += 1
            day[1] += cents(shipped.total)
        elif stream.startswith("stock-"):
            fold = stock_fold.setdefault(
                stream.removeprefix("stock-"), {"available": 0, "held": {}}
            )
            data = registry.decode(event)
            if isinstance(data, StockReceived):
                fold["available"] += data.quantity
            elif isinstance(data, StockReserved):
                fold["available"] -= data.quantity
                fold["held"][data.order_id] = data.quantity
            elif isinstance(data, StockReleased):
                fold["available"] += data.quantity
                fold["held"].pop(data.order_id, None)
    report.orders = len(orders_ids)
    report.skus = len(stock_fold)

    rows = {
        row[0]: row
        for row in await system.reader.query(
            "SELECT order_id, customer_id, status, total_cents, units, version FROM orders"
        )
    }
    lines: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for order_id, sku, quantity, price in await system.reader.query(
        "SELECT order_id, sku, quantity, unit_price_cents FROM order_lines"
    ):
        lines[order_id][sku] = (int(quantity), int(price))
    if len(rows) != len(orders_ids):
        problems.append(f"the read model holds {len(rows)} orders, the log {len(orders_ids)}")

    repos = system.repositories
    gate = asyncio.Semaphore(16)
    held_by_shipped: dict[str, dict[str, int]] = defaultdict(dict)

    async def check_order(order_id: str) -> None:
        async with gate:
            order = await repos.orders.load(order_id)
            reservation = await repos.reservations.get(order_id)
        report.statuses[order.status] += 1
        expected_lines = {
            sku: (ln.quantity, cents(ln.unit_price)) for sku, ln in order.lines.items()
        }
        expected = (
            order_id,
            order.customer_id,
            order.status,
            cents(order.total),
            sum(q for q, _ in expected_lines.values()),
            order.version,
        )
        row = rows.get(order_id)
        found = (
            None if row is None else (row[0], row[1], row[2], int(row[3]), int(row[4]), int(row[5]))
        )
        if found != expected:
            problems.append(f"order {order_id}: read model {found} != replayed {expected}")
        if lines.get(order_id, {}) != expected_lines:
            problems.append(f"order {order_id}: lines {lines.get(order_id)} != {expected_lines}")
        if system.saga is not None and order.status == "confirmed":
            problems.append(f"order {order_id} is still confirmed: the saga did not finish it")
        if order.status == "shipped":
            report.revenue += order.total
            got = {} if reservation is None else {ln.sku: ln.quantity for ln in reservation.lines}
            want = {sku: line.quantity for sku, line in order.lines.items()}
            if reservation is None or reservation.status != "reserved" or got != want:
                problems.append(f"order {order_id} shipped without its stock reserved")
            for sku, quantity in want.items():
                held_by_shipped[sku][order_id] = quantity

    await asyncio.gather(*(check_order(order_id) for order_id in orders_ids))

    for sku, fold in sorted(stock_fold.items()):
        stock = await repos.stock.load(sku)
        if fold["available"] < 0:
            problems.append(f"{sku}: {fold['available']} available, below zero")
        if (stock.available, stock.held) != (fold["available"], fold["held"]):
            problems.append(f"{sku}: aggregate {stock.available} {len(stock.held)} held != log")
        if fold["held"] != held_by_shipped.get(sku, {}):
            problems.append(f"{sku}: stock held for orders that did not ship, or the reverse")

    revenue = {
        day: (int(count), int(amount))
        for day, count, amount in await system.reader.query(
            "SELECT day, orders, revenue_cents FROM revenue_per_day"
        )
    }
    if revenue != {day: (c, a) for day, (c, a) in shipped_per_day.items()}:
        problems.append(
            f"revenue per day {revenue} != shipments in the log {dict(shipped_per_day)}"
        )
    if sum(a for _, a in revenue.values()) != cents(report.revenue):
        problems.append("revenue per day does not add up to the shipped orders' totals")

    for name in ("orders", "revenue_per_day"):
        async with DeadLetters(system.read_target, name) as parked_letters:
            parked = await parked_letters.streams()
        if parked:
            problems.append(f"projection {name}: {len(parked)} parked streams")
    if system.broker is not None:
        dead = await system.broker.dead_letters(system.settings.group_name)
        if dead:
            problems.append(f"the saga dead-lettered {len(dead)} messages")
    if len(problems) > limit_problems:
        problems[limit_problems:] = [f"... and {len(problems) - limit_problems} more"]
    return report
