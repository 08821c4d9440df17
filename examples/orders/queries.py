"""Queries of the orders system and their handlers on the query bus (read models only).

``GetOrder``, ``GetOrdersByCustomer`` and ``GetRevenuePerDay`` take an optional ``after``
position (an ``AppendResult.position`` the caller produced): the handler first waits until the
read model has applied it, so a caller reads its own writes. After ``read_timeout`` seconds it
raises :class:`StaleReadModel` instead of answering from an older state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

import msgspec

import factstream as fs
from factstream.projections import SqlTarget
from factstream.projections.readmodels.sql import SqlSession

from .cache import OrderCache
from .views import DailyRevenue, OrderLineView, OrderSummary, OrderView

__all__ = [
    "DailyRevenue",
    "GetOrder",
    "GetOrdersByCustomer",
    "GetRevenuePerDay",
    "OrderLineView",
    "OrderQueryHandler",
    "OrderSummary",
    "OrderView",
    "ReadModelReader",
    "StaleReadModel",
    "register_queries",
]

WaitFor = Callable[[int, float], Awaitable[bool]]
"""``wait_for(position, timeout)`` of a projection runner."""


class StaleReadModel(fs.FactstreamError):
    """The read model did not reach the requested position in time; ask again later."""

    def __init__(self, projection: str, position: int) -> None:
        self.projection = projection
        self.position = position
        super().__init__(f"read model {projection!r} has not reached position {position} yet")


class GetOrder(msgspec.Struct, fs.Query[OrderView | None], frozen=True):
    order_id: str
    after: int = 0


class GetOrdersByCustomer(msgspec.Struct, fs.Query[list[OrderSummary]], frozen=True):
    customer_id: str
    after: int = 0
    limit: int = 1000


class GetRevenuePerDay(msgspec.Struct, fs.Query[list[DailyRevenue]], frozen=True):
    after: int = 0


class ReadModelReader:
    """A few sessions to a read-model database, lent to one query at a time.

    Args:
        target: the read models' database.
        size: how many sessions (queries that may run at once).
    """

    def __init__(self, target: SqlTarget, size: int = 2) -> None:
        self.target = target
        self.size = size
        self._idle: asyncio.Queue[SqlSession] = asyncio.Queue()
        self._all: list[SqlSession] = []

    async def open(self) -> None:
        for _ in range(self.size):
            session = await self.target.connect()
            self._all.append(session)
            self._idle.put_nowait(session)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[SqlSession]:
        session = await self._idle.get()
        try:
            yield session
        finally:
            self._idle.put_nowait(session)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query (``?`` placeholders on every database)."""
        async with self.session() as session:
            return await session.query(session.dialect.convert(sql), params)

    async def close(self) -> None:
        sessions, self._all = self._all, []
        for session in sessions:
            with contextlib.suppress(Exception):
                await session.close()


_SUMMARY = (
    "SELECT order_id, customer_id, currency, status, total_cents, units, created_at, "
    "updated_at, version, position, reason FROM orders"
)


def _money(amount_cents: int) -> Decimal:
    return Decimal(int(amount_cents)).scaleb(-2)


def _summary(row: tuple[Any, ...]) -> OrderSummary:
    order_id, customer, currency, status, total, units, created, updated, version, pos, reason = row
    return OrderSummary(
        order_id,
        customer,
        currency,
        status,
        _money(total),
        int(units),
        created,
        updated,
        int(version),
        int(pos),
        reason,
    )


class OrderQueryHandler:
    """Answers the order queries from the SQL read models (the design article's
    ``OrderQueryHandler``), through a Redis cache for single orders when one is given.

    Args:
        reader: sessions to the read models' database.
        orders_caught_up: the ``orders`` runner's ``wait_for``.
        revenue_caught_up: the ``revenue_per_day`` runner's ``wait_for``.
        cache: a Redis cache of ``get_order`` answers, or ``None``.
        read_timeout: how long a query with ``after`` waits for the read model.
    """

    def __init__(
        self,
        reader: ReadModelReader,
        orders_caught_up: WaitFor,
        revenue_caught_up: WaitFor,
        *,
        cache: OrderCache | None = None,
        read_timeout: float = 5.0,
    ) -> None:
        self.reader = reader
        self.orders_caught_up = orders_caught_up
        self.revenue_caught_up = revenue_caught_up
        self.cache = cache
        self.read_timeout = read_timeout

    async def _wait(self, wait_for: WaitFor, name: str, position: int) -> None:
        if position > 0 and not await wait_for(position, self.read_timeout):
            raise StaleReadModel(name, position)

    async def get_order(self, query: GetOrder) -> OrderView | None:
        """The order ``query.order_id``, or ``None`` if the read model does not know it."""
        cache = self.cache
        if cache is not None:
            cached = await cache.get(query.order_id, query.after)
            if cached is not None:
                return cached
        await self._wait(self.orders_caught_up, "orders", query.after)
        rows = await self.reader.query(_SUMMARY + " WHERE order_id = ?", (query.order_id,))
        if not rows:
            return None
        lines = await self.reader.query(
            "SELECT sku, quantity, unit_price_cents FROM order_lines WHERE order_id = ? "
            "ORDER BY sku",
            (query.order_id,),
        )
        view = OrderView(
            **msgspec.structs.asdict(_summary(rows[0])),
            lines=tuple(OrderLineView(sku, int(q), _money(p)) for sku, q, p in lines),
        )
        if cache is not None:
            await cache.put(view)
        return view

    async def get_orders_by_customer(self, query: GetOrdersByCustomer) -> list[OrderSummary]:
        """The customer's orders, oldest first (at most ``query.limit``)."""
        await self._wait(self.orders_caught_up, "orders", query.after)
        rows = await self.reader.query(
            _SUMMARY + " WHERE customer_id = ? ORDER BY created_at, order_id LIMIT ?",
            (query.customer_id, max(0, query.limit)),
        )
        return [_summary(row) for row in rows]

    async def get_revenue_per_day(self, query: GetRevenuePerDay) -> list[DailyRevenue]:
        """Orders shipped and revenue per UTC day, oldest day first."""
        await self._wait(self.revenue_caught_up, "revenue_per_day", query.after)
        rows = await self.reader.query(
            "SELECT day, orders, revenue_cents FROM revenue_per_day ORDER BY day"
        )
        return [DailyRevenue(day, int(count), _money(amount)) for day, count, amount in rows]


def register_queries(bus: fs.QueryBus, handler: OrderQueryHandler) -> None:
    """Route the order queries to ``handler`` on ``bus``."""
    bus.register(GetOrder, handler.get_order)
    bus.register(GetOrdersByCustomer, handler.get_orders_by_customer)
    bus.register(GetRevenuePerDay, handler.get_revenue_per_day)
