"""ProjectionRunner on SQLite and PostgreSQL read models: catch-up, live, restart, batches."""

from __future__ import annotations

import asyncio

import pytest

import factstream as fs
from factstream.projections import ProjectionOutdated, ProjectionRunner, SqlTarget

from .helpers import query
from .models import OrdersByCustomer, RevenuePerDay, order_events


async def _place(store: fs.EventStore, count: int, first: int = 0) -> fs.AppendResult:
    result = None
    for n in range(first, first + count):
        result = await store.append(
            f"order-{n}", order_events(f"c{n % 3}", [n, 1], day=f"2024-05-0{1 + n % 2}")
        )
    assert result is not None
    return result


async def test_catches_up_then_follows_live_into_an_indexed_list(
    store: fs.EventStore, target: SqlTarget
) -> None:
    await _place(store, 10)
    async with ProjectionRunner(store, OrdersByCustomer(), target, batch_size=7) as runner:
        assert await runner.wait_for(await store.head_position(), timeout=10)
        live = await _place(store, 5, first=10)
        assert await runner.wait_for(live.position, timeout=10)
        assert runner.position == live.position
    rows = await query(
        target,
        "SELECT order_id, items, total FROM orders WHERE customer = ? ORDER BY order_id",
        ("c1",),
    )
    expected = sorted((f"order-{n}", 2, n + 1) for n in range(15) if n % 3 == 1)
    assert rows == expected


async def test_restart_resumes_exactly_where_it_stopped(
    store: fs.EventStore, target: SqlTarget
) -> None:
    await _place(store, 6)
    runner = ProjectionRunner(store, OrdersByCustomer(), target, batch_size=4)
    assert await runner.catch_up() == await store.head_position()
    await _place(store, 4, first=6)
    head = await store.head_position()
    runner = ProjectionRunner(store, OrdersByCustomer(), target, batch_size=4)
    assert await runner.catch_up() == head
    # A third run with nothing new applies nothing.
    assert await ProjectionRunner(store, OrdersByCustomer(), target).catch_up() == head
    rows = await query(target, "SELECT count(*), sum(items), sum(total) FROM orders")
    assert [tuple(int(v) for v in row) for row in rows] == [(10, 20, sum(range(10)) + 10)]


async def test_batch_aware_projection_maintains_revenue_per_day(
    store: fs.EventStore, target: SqlTarget
) -> None:
    await _place(store, 9)
    await ProjectionRunner(store, RevenuePerDay(), target, batch_size=5).catch_up()
    rows = await query(target, "SELECT day, amount, items FROM revenue ORDER BY day")
    by_day: dict[str, list[int]] = {"2024-05-01": [0, 0], "2024-05-02": [0, 0]}
    for n in range(9):
        totals = by_day[f"2024-05-0{1 + n % 2}"]
        totals[0] += n + 1
        totals[1] += 2
    assert [(d, int(a), int(i)) for d, a, i in rows] == [
        (day, *totals) for day, totals in by_day.items()
    ]


async def test_two_runners_of_one_projection_never_apply_a_batch_twice(
    store: fs.EventStore, target: SqlTarget
) -> None:
    await _place(store, 30)
    first = ProjectionRunner(store, OrdersByCustomer(), target, batch_size=3)
    second = ProjectionRunner(store, OrdersByCustomer(), target, batch_size=5)
    async with first, second:
        await _place(store, 30, first=30)
        head = await store.head_position()
        assert await first.wait_for(head, timeout=30)
        assert await second.wait_for(head, timeout=30)
    rows = await query(target, "SELECT count(*), sum(items), sum(total) FROM orders")
    assert [tuple(int(v) for v in row) for row in rows] == [(60, 120, sum(range(60)) + 60)]


async def test_wait_for_reports_a_position_not_reached_in_time(
    store: fs.EventStore, target: SqlTarget
) -> None:
    result = await _place(store, 2)
    async with ProjectionRunner(store, OrdersByCustomer(), target) as runner:
        assert await runner.wait_for(result.position, timeout=10)
        assert await runner.wait_for(result.position + 1, timeout=0.05) is False


async def test_a_new_projection_version_refuses_an_old_read_model(
    store: fs.EventStore, target: SqlTarget
) -> None:
    await _place(store, 1)
    await ProjectionRunner(store, OrdersByCustomer(), target).catch_up()

    class OrdersV2(OrdersByCustomer):
        version = 2

    with pytest.raises(ProjectionOutdated, match="built by version 1, this code is version 2"):
        await ProjectionRunner(store, OrdersV2(), target).start()


async def test_runner_stops_when_the_store_closes(target: SqlTarget) -> None:
    store = await fs.connect("memory://")
    await _place(store, 3)
    runner = ProjectionRunner(store, OrdersByCustomer(), target)
    run = asyncio.create_task(runner.run())
    assert await runner.wait_for(await store.head_position(), timeout=10)
    await store.close()
    await asyncio.wait_for(run, timeout=10)
    assert runner.error is None
