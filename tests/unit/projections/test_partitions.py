"""Partitions: runners that each apply some partitions build the same read model as one
runner; partitioned workers share them through leases and take over a stopped one's."""

from __future__ import annotations

import asyncio

import factstream as fs
from factstream.projections import (
    PartitionedWorker,
    ProjectionRunner,
    SqlTarget,
    partition_of,
)
from factstream.projections.generations import activate

from .helpers import query
from .models import OrdersByCustomer, order_events


async def _fill(store: fs.EventStore, orders: int, start: int = 0) -> int:
    position = 0
    for n in range(start, start + orders):
        position = (await store.append(f"order-{n}", order_events(f"c{n % 5}", [n, 1]))).position
    return position


async def _totals(target: SqlTarget) -> list[tuple[str, int, int]]:
    rows = await query(target, "SELECT order_id, items, total FROM orders ORDER BY order_id")
    return [(str(o), int(i), int(t)) for o, i, t in rows]


def _expected(orders: int) -> list[tuple[str, int, int]]:
    return sorted((f"order-{n}", 2, n + 1) for n in range(orders))


async def test_runners_on_disjoint_partitions_build_the_whole_read_model(
    store: fs.EventStore, target: SqlTarget
) -> None:
    head = await _fill(store, 40)
    assert len({partition_of(f"order-{n}", 4) for n in range(40)}) == 4
    for owned in ({0, 3}, {1}, {2}):
        runner = ProjectionRunner(
            store, OrdersByCustomer(), target, partitions=4, owned=owned, batch_size=9
        )
        assert await runner.catch_up(head) == head
    assert await _totals(target) == _expected(40)
    checkpoints = await query(
        target, "SELECT partition, position FROM factstream_checkpoints ORDER BY partition"
    )
    assert [(int(p), int(c)) for p, c in checkpoints] == [(p, head) for p in range(4)]


async def test_workers_share_partitions_and_take_over_a_stopped_one(
    store: fs.EventStore, target: SqlTarget
) -> None:
    await _fill(store, 30)
    options = {"partitions": 6, "lease_timeout": 5.0, "renew_interval": 3600.0}
    first = PartitionedWorker(store, OrdersByCustomer(), target, **options)  # type: ignore[arg-type]
    second = PartitionedWorker(store, OrdersByCustomer(), target, **options)  # type: ignore[arg-type]
    await first.start()
    assert first.held == frozenset(range(6))
    await second.start()
    assert second.held == frozenset()
    try:
        # Rounds driven by hand (the loops sleep an hour). The first worker started alone
        # and took everything; now each sees two live workers: a share of three.
        await first.rebalance()  # stops applying three, gives them back next round
        await second.rebalance()  # nothing free yet
        await first.rebalance()  # gives them back
        await second.rebalance()  # takes them
        assert len(first.held) == 3
        assert len(second.held) == 3
        assert first.held | second.held == frozenset(range(6))
        head = await _fill(store, 10, start=30)
        assert await first.wait_for(head, timeout=20)
        assert await second.wait_for(head, timeout=20)
        assert await _totals(target) == _expected(40)

        await first.stop()  # releases its leases at once
        await second.rebalance()
        assert second.held == frozenset(range(6))
        head = await _fill(store, 5, start=40)
        assert await second.wait_for(head, timeout=20)
        assert await _totals(target) == _expected(45)
    finally:
        await first.stop()
        await second.stop()
    await asyncio.sleep(0)


async def test_processes_starting_at_once_agree_on_one_generation(target: SqlTarget) -> None:
    async def start() -> int:
        session = await target.connect()
        try:
            await session.migrate()
            return (await activate(session, OrdersByCustomer())).number
        finally:
            await session.close()

    assert set(await asyncio.gather(*(start() for _ in range(4)))) == {1}
    rows = await query(target, "SELECT generation, state FROM factstream_projections")
    assert [(int(g), s) for g, s in rows] == [(1, "active")]
