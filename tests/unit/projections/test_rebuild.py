"""Rebuilds: shadow tables from position 1 while the old generation serves, atomic swap."""

from __future__ import annotations

import asyncio

import factstream as fs
from factstream.projections import ProjectionRunner, SqlTarget
from factstream.projections.generations import generations
from factstream.projections.rebuild import rebuild

from .helpers import query
from .models import OrdersByCustomer, order_events


async def test_rebuild_swaps_in_a_complete_copy_while_queries_and_the_live_runner_go_on(
    store: fs.EventStore, target: SqlTarget
) -> None:
    for n in range(40):
        await store.append(f"order-{n}", order_events(f"c{n % 4}", [n, 2]))
    expected_total = sum(range(40)) + 80
    seen: list[tuple[int, int]] = []
    stop_queries = asyncio.Event()

    async def keep_querying() -> None:
        # A query service: every answer must be a complete read model, old or new.
        while not stop_queries.is_set():
            rows = await query(target, "SELECT count(*), sum(total) FROM orders")
            seen.append((int(rows[0][0]), int(rows[0][1] or 0)))

    async with ProjectionRunner(store, OrdersByCustomer(), target, batch_size=16) as live:
        assert await live.wait_for(await store.head_position(), timeout=20)
        queries = asyncio.create_task(keep_querying())
        progress: list[tuple[int, int]] = []
        number = await rebuild(
            store,
            OrdersByCustomer(),
            target,
            batch_size=7,
            on_progress=lambda p, h: progress.append((p, h)),
        )
        assert number == 2
        assert progress
        assert progress[-1][0] == progress[-1][1]
        # The live runner follows the new generation after the swap.
        extra = await store.append("order-40", order_events("c0", [5]))
        assert await live.wait_for(extra.position, timeout=20)
        assert live.generation == 2
        stop_queries.set()
        await queries

    assert seen
    assert all(
        answer == (40, expected_total) or answer == (41, expected_total + 5) for answer in seen
    )
    rows = await query(target, "SELECT count(*), sum(total) FROM orders")
    assert (int(rows[0][0]), int(rows[0][1])) == (41, expected_total + 5)
    session = await target.connect()
    try:
        states = [(g.number, g.state) for g in await generations(session, "orders_by_customer")]
    finally:
        await session.close()
    assert states == [(1, "retired"), (2, "active")]
