"""Read your writes through the query bus: a consistency token waited for with a runner (same
process) or a checkpoint waiter (any process), or a stale answer flagged as such."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import factstream as fs
from factstream.projections import CheckpointWaiter, ProjectionRunner, SqlTarget

from .helpers import query
from .models import OrdersByCustomer, order_events


@dataclass(frozen=True)
class OrderTotal(fs.Query[int | None]):
    order_id: str


def bus_over(target: SqlTarget) -> fs.QueryBus:
    queries = fs.QueryBus()

    async def total(q: OrderTotal) -> int | None:
        rows = await query(target, "SELECT total FROM orders WHERE order_id = ?", (q.order_id,))
        return int(rows[0][0]) if rows else None

    queries.register(OrderTotal, total)
    return queries


async def test_asking_after_a_token_sees_the_write_under_load(
    store: fs.EventStore, target: SqlTarget
) -> None:
    queries = bus_over(target)
    async with (
        ProjectionRunner(store, OrdersByCustomer(), target, batch_size=50) as runner,
        CheckpointWaiter(target, "orders_by_customer") as polling,
    ):

        async def client(n: int) -> None:
            await store.append(f"order-{n}", order_events("c", []))
            for price in range(1, 5):
                written = await store.append(f"order-{n}", order_events("c", [price])[1:])
                waiter = runner if n % 2 else polling
                answer = await queries.ask_after(OrderTotal(f"order-{n}"), written, waiter)
                assert not answer.stale
                assert answer.position == written.position
                assert answer.value == sum(range(1, price + 1))

        await asyncio.gather(*(client(n) for n in range(30)))


async def test_a_read_model_behind_the_token_answers_stale(
    store: fs.EventStore, target: SqlTarget
) -> None:
    queries = bus_over(target)
    first = await store.append("order-1", order_events("c", [5]))
    await ProjectionRunner(store, OrdersByCustomer(), target).catch_up()
    later = await store.append("order-1", order_events("c", [7])[1:])  # no runner now

    async with CheckpointWaiter(target, "orders_by_customer", poll_interval=0.01) as waiter:
        assert await waiter.position() == first.position
        answer = await queries.ask_after(OrderTotal("order-1"), later, waiter, timeout=0.05)
        fresh = await queries.ask_after(OrderTotal("order-1"), first.position, waiter, timeout=0)
    assert (answer.value, answer.stale, answer.position) == (5, True, later.position)
    assert (fresh.value, fresh.stale) == (5, False)


async def test_a_partitioned_read_model_counts_its_slowest_partition(
    store: fs.EventStore, target: SqlTarget
) -> None:
    head = 0
    for n in range(8):
        head = (await store.append(f"order-{n}", order_events("c", [1]))).position
    runner = ProjectionRunner(store, OrdersByCustomer(), target, partitions=2, owned=[0])
    await runner.catch_up(head)
    async with CheckpointWaiter(target, "orders_by_customer", partitions=2) as waiter:
        assert await waiter.position() == 0  # partition 1 has no checkpoint yet
        assert not await waiter.wait_for(1, timeout=0)
        other = ProjectionRunner(store, OrdersByCustomer(), target, partitions=2, owned=[1])
        await other.catch_up(head)
        assert await waiter.wait_for(head, timeout=5)
