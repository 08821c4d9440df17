"""factstream's side of the write-side scenarios: (r) replay, (c) and (c100) commands.

(r) loads one aggregate of ``replay_events`` events through ``Repository.load`` (typed events,
decoded through the registry, applied by the aggregate), ``replay_loads`` times.
(c) dispatches ``commands`` commands, round robin over ``command_aggregates`` existing orders,
each one load -> decide -> save through the ``CommandBus`` (no caching of aggregates).
(c100) the same commands from 100 concurrent tasks, each on its own orders (no conflicts).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec

import factstream as fs

from .payload import EVENT_TYPE, payload
from .sizes import Sizes
from .targets import Target

Result = dict[str, Any]


class ItemAdded(msgspec.Struct, frozen=True):
    order_id: str
    customer_id: str
    sku: str
    quantity: int
    unit_price_cents: int
    currency: str
    note: str
    seq: int


class AddItem(msgspec.Struct, fs.Command[fs.AppendResult | None], frozen=True):
    order_id: str
    seq: int


class Order(fs.Aggregate, category="order"):
    items: int
    last_seq: int

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.items = 0
        self.last_seq = -1

    def add_item(self, seq: int) -> None:
        self._record(ItemAdded(**payload(seq)))

    @fs.applies(ItemAdded)
    def _added(self, event: ItemAdded) -> None:
        self.items += 1
        self.last_seq = event.seq


def _registry() -> fs.EventRegistry:
    registry = fs.EventRegistry()
    registry.register(ItemAdded, name=EVENT_TYPE)
    return registry


async def _create(repository: fs.Repository[Order], order_id: str, events: int) -> None:
    order = Order(order_id)
    for start in range(0, events, 100):
        for seq in range(start, min(start + 100, events)):
            order.add_item(seq)
        await repository.save(order)


async def replay(store: fs.EventStore, sizes: Sizes) -> Result:
    repository = fs.Repository(store, _registry(), Order, page_size=1000)
    await _create(repository, "big", sizes.replay_events)
    await repository.load("big")  # warm
    start = time.perf_counter()
    for _ in range(sizes.replay_loads):
        order = await repository.load("big")
        assert order.items == sizes.replay_events
    elapsed = time.perf_counter() - start
    return {"events_per_s": sizes.replay_events * sizes.replay_loads / elapsed}


def _bus(store: fs.EventStore) -> fs.CommandBus:
    repository = fs.Repository(store, _registry(), Order)
    bus = fs.CommandBus()
    bus.register(
        AddItem, fs.updates(repository, lambda c: c.order_id, lambda o, c: o.add_item(c.seq))
    )
    return bus


async def commands(store: fs.EventStore, sizes: Sizes, tasks: int = 1) -> Result:
    repository = fs.Repository(store, _registry(), Order)
    ids = [f"c-{n}" for n in range(sizes.command_aggregates)]
    for order_id in ids:
        await _create(repository, order_id, 1)
    bus = _bus(store)
    per_task = sizes.commands // tasks
    lanes = [ids[lane::tasks] for lane in range(tasks)]

    async def lane(own: list[str]) -> None:
        for n in range(per_task):
            await bus.dispatch(AddItem(own[n % len(own)], n))

    start = time.perf_counter()
    await asyncio.gather(*(lane(own) for own in lanes))
    elapsed = time.perf_counter() - start
    return {"events_per_s": per_task * tasks / elapsed}


async def _measure(scenario: str, target: Target, sizes: Sizes) -> Result:
    async with fs.connect(target.factstream_url()) as store:
        if scenario == "r":
            return await replay(store, sizes)
        if scenario == "c":
            return await commands(store, sizes)
        return await commands(store, sizes, tasks=sizes.tasks)


def measure(scenario: str, target: Target, sizes: Sizes) -> Result:
    return asyncio.run(_measure(scenario, target, sizes))
