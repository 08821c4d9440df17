"""Inline projections (SQLite): read models written in the same transaction as the append."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

import factstream as fs
from factstream.projections import SqliteTarget, SqlTransaction
from factstream.projections.rebuild import rebuild

from .helpers import query
from .models import OrdersByCustomer, order_events


class Picky(OrdersByCustomer):
    """Refuses orders of the customer 'mallory'."""

    @fs.handles("OrderCreated")
    def created(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
        if event.data["customer"] == "mallory":
            raise ValueError("no orders for mallory")
        super().created(event, tx)


async def _orders(target: SqliteTarget) -> list[tuple[str, int, int]]:
    rows = await query(target, "SELECT order_id, items, total FROM orders ORDER BY order_id")
    return [(str(o), int(i), int(t)) for o, i, t in rows]


async def _checkpoint(target: SqliteTarget) -> int:
    rows = await query(target, "SELECT max(position) FROM factstream_checkpoints")
    return int(rows[0][0])


async def test_an_append_is_in_the_read_model_when_it_returns(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "events.db"
    target = SqliteTarget(path)
    async with fs.connect(f"sqlite:///{path}", inline=[OrdersByCustomer()]) as store:
        for n in range(5):
            result = await store.append(f"order-{n}", order_events("ada", [n, 10]))
            assert (f"order-{n}", 2, n + 10) in await _orders(target)
            assert await _checkpoint(target) == result.position


async def test_a_failing_inline_projection_fails_its_append_alone(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "events.db"
    target = SqliteTarget(path)
    async with fs.connect(f"sqlite:///{path}", inline=[Picky()]) as store:
        outcomes = await asyncio.gather(
            *(
                store.append(f"order-{n}", order_events("mallory" if n == 3 else "bob", [1]))
                for n in range(6)
            ),
            return_exceptions=True,
        )
        assert isinstance(outcomes[3], ValueError)
        assert all(isinstance(o, fs.AppendResult) for i, o in enumerate(outcomes) if i != 3)
        assert await store.read("order-3") == []
        head = await store.head_position()
    assert head == 10
    assert [o for o, _, _ in await _orders(target)] == [f"order-{n}" for n in (0, 1, 2, 4, 5)]
    assert await _checkpoint(target) == head


async def test_events_written_without_the_projection_are_applied_first(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "events.db"
    url = f"sqlite:///{path}"
    target = SqliteTarget(path)
    async with fs.connect(url) as plain:
        await plain.append("order-0", order_events("a", [1]))
        async with fs.connect(url, inline=[OrdersByCustomer()]) as store:
            assert await _orders(target) == [("order-0", 1, 1)]  # caught up when opened
            await plain.append("order-1", order_events("b", [2]))  # another writer, no hook
            await store.append("order-2", order_events("c", [3]))
            assert await _orders(target) == [
                ("order-0", 1, 1),
                ("order-1", 1, 2),
                ("order-2", 1, 3),
            ]
            assert await _checkpoint(target) == 6


async def test_a_rebuilt_inline_projection_goes_on_in_its_new_generation(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "events.db"
    target = SqliteTarget(path)
    async with fs.connect(f"sqlite:///{path}", inline=[OrdersByCustomer()]) as store:
        for n in range(4):
            await store.append(f"order-{n}", order_events("a", [n]))
        assert await rebuild(store, OrdersByCustomer(), target) == 2
        await store.append("order-4", order_events("a", [4]))
        assert await _orders(target) == [(f"order-{n}", 1, n) for n in range(5)]
        rows = await query(
            target, "SELECT position FROM factstream_checkpoints WHERE generation = 2"
        )
        assert rows == [(10,)]


async def test_an_inline_handler_cannot_wait(tmp_path: pathlib.Path) -> None:
    class Waits(OrdersByCustomer):
        @fs.handles("OrderCreated")
        async def waits(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
            await asyncio.sleep(0.001)

    async with fs.connect(f"sqlite:///{tmp_path / 'e.db'}", inline=[Waits()]) as store:
        with pytest.raises(TypeError, match="cannot wait"):
            await store.append("order-1", order_events("a", []))


async def test_inline_projections_need_a_sqlite_store() -> None:
    with pytest.raises(fs.UnsupportedUrl):
        await fs.connect("memory://", inline=[OrdersByCustomer()])
