"""A reproducible shopping workload: customers place orders concurrently through the bus.

Used by ``factstream demo`` and the integration tests. Each order follows a script drawn from
a seeded random generator: open, add lines (sometimes the same SKU twice, sometimes removing
one), then confirm, cancel, or leave it open; a few customers cancel after confirming (racing
the shipment) and a few try to change a confirmed order (which the rules refuse).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import factstream as fs

from .commands import (
    AddItem,
    CancelOrder,
    ConfirmOrder,
    CreateOrder,
    ReceiveStock,
    RemoveItem,
    new_order_id,
)
from .errors import OrderNotOpen, RuleBroken
from .queries import GetOrder

__all__ = ["Catalogue", "Workload", "WorkloadStats", "catalogue"]


@dataclass(frozen=True, slots=True)
class Catalogue:
    """SKUs with their unit prices and the stock received for each."""

    prices: dict[str, Decimal]
    stock: dict[str, int]


def catalogue(orders: int, skus: int = 40, scarce_every: int = 8, seed: int = 7) -> Catalogue:
    """A catalogue for about ``orders`` orders: most SKUs have plenty of stock, every
    ``scarce_every``-th has about a third of what the orders will ask for, so some confirmed
    orders are cancelled for lack of stock."""
    rng = random.Random(seed)
    prices = {
        f"sku-{n:03d}": Decimal(rng.randint(100, 9999)).scaleb(-2).quantize(Decimal("0.01"))
        for n in range(skus)
    }
    demand = max(1, orders * 3 * 5 // (2 * skus))  # lines/order 2.5 x units/line 3 / skus
    stock = {
        sku: max(1, demand // 3) if n % scarce_every == 0 else demand * 4
        for n, sku in enumerate(prices)
    }
    return Catalogue(prices, stock)


@dataclass
class WorkloadStats:
    """What the workload did.

    Attributes:
        commands: commands the bus accepted.
        refused: commands the rules refused as expected, by error.
        unexpected: commands that failed otherwise, or rules that did not hold (messages).
        latencies: seconds per accepted or refused command.
        read_latencies: seconds per read-your-writes query.
        reads: read-your-writes queries; stale_reads: those that did not see the write.
        orders_placed: orders whose script has finished.
    """

    commands: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    read_latencies: list[float] = field(default_factory=list)
    reads: int = 0
    stale_reads: list[str] = field(default_factory=list)
    orders_placed: int = 0
    order_ids: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


class Workload:
    """Places ``orders`` orders from ``customers`` customers with ``concurrency`` tasks.

    Args:
        commands: the command bus.
        queries: the query bus (read-your-writes checks); ``None`` to skip them.
        read_every: check read-your-writes on one order in this many.
        on_order: called after each order's script (progress bars).
    """

    def __init__(
        self,
        commands: fs.CommandBus,
        queries: fs.QueryBus | None,
        *,
        orders: int,
        customers: int,
        concurrency: int = 16,
        seed: int = 42,
        read_every: int = 4,
        on_order: Callable[[], None] | None = None,
    ) -> None:
        self.commands = commands
        self.queries = queries
        self.orders = orders
        self.customers = customers
        self.concurrency = concurrency
        self.seed = seed
        self.read_every = read_every
        self.on_order = on_order
        self.catalogue = catalogue(orders)
        self.stats = WorkloadStats()

    async def stock_up(self) -> None:
        """Receive the catalogue's stock."""
        for sku, quantity in self.catalogue.stock.items():
            await self._send(ReceiveStock(sku, quantity))

    async def run(self) -> WorkloadStats:
        """Place every order; return the statistics."""
        stats = self.stats
        stats.started = time.perf_counter()
        numbers: asyncio.Queue[int] = asyncio.Queue()
        for number in range(self.orders):
            numbers.put_nowait(number)

        async def worker() -> None:
            while not numbers.empty():
                number = numbers.get_nowait()
                await self._order(number)
                stats.orders_placed += 1
                if self.on_order is not None:
                    self.on_order()

        async with asyncio.TaskGroup() as tasks:
            for _ in range(self.concurrency):
                tasks.create_task(worker())
        stats.finished = time.perf_counter()
        return stats

    async def _send(self, command: object) -> fs.AppendResult | None:
        began = time.perf_counter()
        try:
            result: fs.AppendResult | None = await self.commands.dispatch(command)
        finally:
            self.stats.latencies.append(time.perf_counter() - began)
        self.stats.commands += 1
        return result

    async def _refused(self, command: object, expected: type[RuleBroken]) -> None:
        """Send a command the rules must refuse with ``expected``."""
        began = time.perf_counter()
        try:
            await self.commands.dispatch(command)
        except expected as exc:
            self.stats.refused[type(exc).__name__] += 1
        else:
            self.stats.unexpected.append(f"{command!r} was accepted; {expected.__name__} expected")
        finally:
            self.stats.latencies.append(time.perf_counter() - began)

    async def _order(self, number: int) -> None:
        rng = random.Random(self.seed * 1_000_003 + number)
        prices = self.catalogue.prices
        skus = list(prices)
        order_id = new_order_id()
        self.stats.order_ids.append(order_id)
        customer = f"customer-{rng.randrange(self.customers):03d}"
        try:
            await self._send(CreateOrder(order_id, customer))
            chosen = rng.sample(skus, rng.randint(1, 4))
            for sku in chosen:
                await self._send(AddItem(order_id, sku, rng.randint(1, 5), prices[sku]))
                if rng.random() < 0.1:  # the same SKU again: the line grows
                    await self._send(AddItem(order_id, sku, 1, prices[sku]))
            if rng.random() < 0.1:  # a second thought: add a SKU, then remove it
                extra = next(sku for sku in reversed(skus) if sku not in chosen)
                await self._send(AddItem(order_id, extra, 1, prices[extra]))
                await self._send(RemoveItem(order_id, extra))
            fate = rng.random()
            if fate < 0.07:
                await self._send(CancelOrder(order_id))
                return
            if fate < 0.12:
                return  # left open
            result = await self._send(ConfirmOrder(order_id))
            if rng.random() < 0.03:
                await self._refused(AddItem(order_id, skus[0], 1, prices[skus[0]]), OrderNotOpen)
            if self.queries is not None and result is not None and number % self.read_every == 0:
                await self._read_own_write(order_id, result.position)
            if rng.random() < 0.03:
                # Races the shipment: either it is cancelled (and its stock released) or the
                # rules refuse it because it has shipped.
                try:
                    await self._send(CancelOrder(order_id, "changed my mind"))
                except RuleBroken as exc:
                    self.stats.refused[type(exc).__name__] += 1
        except RuleBroken as exc:
            self.stats.unexpected.append(f"order {order_id}: {exc!r}")
        except Exception as exc:
            self.stats.unexpected.append(f"order {order_id}: {type(exc).__name__}: {exc}")

    async def _read_own_write(self, order_id: str, position: int) -> None:
        assert self.queries is not None
        began = time.perf_counter()
        view = await self.queries.ask(GetOrder(order_id, after=position))
        self.stats.read_latencies.append(time.perf_counter() - began)
        self.stats.reads += 1
        if view is None or view.status == "open" or view.position < position:
            self.stats.stale_reads.append(f"{order_id} after {position}: {view!r}")
        # The same page again, without a position: served by the cache when there is one.
        began = time.perf_counter()
        again = await self.queries.ask(GetOrder(order_id))
        self.stats.read_latencies.append(time.perf_counter() - began)
        if again is None or again.position < position:
            self.stats.stale_reads.append(f"{order_id} read again: {again!r}")
