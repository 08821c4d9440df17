"""Inline projections (SQLite and PostgreSQL stores): read models written in the same
transaction as the append."""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

import factstream as fs
from factstream.projections import PostgresTarget, SqliteTarget, SqlTarget, SqlTransaction
from factstream.projections.rebuild import rebuild
from tests.services import POSTGRES_URL, require

from .conftest import _drop_schema
from .helpers import query
from .models import OrdersByCustomer, order_events


@dataclass(frozen=True)
class InlineStore:
    """Where an inline store lives: its URL, and its read models as a target."""

    url: str
    target: SqlTarget


@pytest.fixture
async def on_postgres() -> AsyncIterator[InlineStore]:
    require("PostgreSQL", "127.0.0.1", 5432)
    schema = f"fs_inline_{uuid.uuid4().hex[:12]}"
    yield InlineStore(f"{POSTGRES_URL}?schema={schema}", PostgresTarget(POSTGRES_URL, schema))
    await _drop_schema(schema)


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> InlineStore:
    if request.param == "sqlite":
        path = tmp_path / "events.db"
        return InlineStore(f"sqlite:///{path}", SqliteTarget(path))
    found: InlineStore = request.getfixturevalue("on_postgres")
    return found


class Picky(OrdersByCustomer):
    """Refuses orders of the customer 'mallory'."""

    @fs.handles("OrderCreated")
    def created(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
        if event.data["customer"] == "mallory":
            raise ValueError("no orders for mallory")
        super().created(event, tx)


class BadSql(OrdersByCustomer):
    """Writes to a table that does not exist for the customer 'mallory' (fails in the database,
    at commit, after the other handlers' writes were sent)."""

    @fs.handles("OrderCreated")
    def created(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
        super().created(event, tx)
        if event.data["customer"] == "mallory":
            tx.execute("INSERT INTO no_such_table VALUES (?)", (1,))


async def _orders(target: SqlTarget) -> list[tuple[str, int, int]]:
    rows = await query(target, "SELECT order_id, items, total FROM orders ORDER BY order_id")
    return [(str(o), int(i), int(t)) for o, i, t in rows]


async def _checkpoint(target: SqlTarget) -> int:
    rows = await query(target, "SELECT max(position) FROM factstream_checkpoints")
    return int(rows[0][0])


async def test_an_append_is_in_the_read_model_when_it_returns(where: InlineStore) -> None:
    async with fs.connect(where.url, inline=[OrdersByCustomer()]) as store:
        for n in range(5):
            result = await store.append(f"order-{n}", order_events("ada", [n, 10]))
            assert (f"order-{n}", 2, n + 10) in await _orders(where.target)
            assert await _checkpoint(where.target) == result.position


@pytest.mark.parametrize("projection", [Picky, BadSql])
async def test_a_failing_inline_projection_fails_its_append_alone(
    where: InlineStore, projection: type[OrdersByCustomer]
) -> None:
    async with fs.connect(where.url, inline=[projection()]) as store:
        outcomes = await asyncio.gather(
            *(
                store.append(f"order-{n}", order_events("mallory" if n == 3 else "bob", [1]))
                for n in range(6)
            ),
            return_exceptions=True,
        )
        assert isinstance(outcomes[3], Exception)
        assert not isinstance(outcomes[3], fs.StoreUnavailable)  # the handler's own error
        assert all(isinstance(o, fs.AppendResult) for i, o in enumerate(outcomes) if i != 3)
        assert await store.read("order-3") == []
        head = await store.head_position()
        positions = [e.position async for e in store.read_all()]
        await store.append("order-6", order_events("bob", [2]))  # the writer goes on
    assert head == 10
    assert positions == list(range(1, 11))  # no hole where the failed append was
    orders = [o for o, _, _ in await _orders(where.target)]
    assert orders == [f"order-{n}" for n in (0, 1, 2, 4, 5, 6)]
    assert await _checkpoint(where.target) == 12


async def test_events_written_without_the_projection_are_applied_first(
    where: InlineStore,
) -> None:
    async with fs.connect(where.url) as plain:
        await plain.append("order-0", order_events("a", [1]))
        async with fs.connect(where.url, inline=[OrdersByCustomer()]) as store:
            assert await _orders(where.target) == [("order-0", 1, 1)]  # caught up when opened
            await plain.append("order-1", order_events("b", [2]))  # another writer, no hook
            await store.append("order-2", order_events("c", [3]))
            assert await _orders(where.target) == [
                ("order-0", 1, 1),
                ("order-1", 1, 2),
                ("order-2", 1, 3),
            ]
            assert await _checkpoint(where.target) == 6


async def test_a_rebuilt_inline_projection_goes_on_in_its_new_generation(
    where: InlineStore,
) -> None:
    async with fs.connect(where.url, inline=[OrdersByCustomer()]) as store:
        for n in range(4):
            await store.append(f"order-{n}", order_events("a", [n]))
        assert await rebuild(store, OrdersByCustomer(), where.target) == 2
        await store.append("order-4", order_events("a", [4]))
        assert await _orders(where.target) == [(f"order-{n}", 1, n) for n in range(5)]
        rows = await query(
            where.target, "SELECT position FROM factstream_checkpoints WHERE generation = 2"
        )
        assert rows == [(10,)]


async def test_an_inline_handler_cannot_wait_on_sqlite(tmp_path: pathlib.Path) -> None:
    class Waits(OrdersByCustomer):
        @fs.handles("OrderCreated")
        async def waits(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
            await asyncio.sleep(0.001)

    async with fs.connect(f"sqlite:///{tmp_path / 'e.db'}", inline=[Waits()]) as store:
        with pytest.raises(TypeError, match="cannot wait"):
            await store.append("order-1", order_events("a", []))


class ReadsFirst(OrdersByCustomer):
    """Reads the read model (what earlier appends wrote) before writing."""

    @fs.handles("ItemAdded")
    async def item_added_after_reading(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
        sql = "SELECT items FROM {orders} WHERE order_id = ?"
        items = await tx.fetchval(sql, (event.stream_id,))
        tx.execute(
            "UPDATE {orders} SET items = ?, total = total + ? WHERE order_id = ?",
            (int(items) + 1, event.data["price"], event.stream_id),
        )


async def test_a_postgres_inline_handler_may_read_its_transaction(
    on_postgres: InlineStore,
) -> None:
    where = on_postgres
    async with fs.connect(where.url, inline=[ReadsFirst()]) as store:
        await asyncio.gather(
            store.append("order-1", order_events("a", [1, 2])),
            store.append("order-2", order_events("b", [5])),
        )
        await store.append("order-1", [fs.NewEvent("ItemAdded", {"price": 4, "day": "d"})])
    assert await _orders(where.target) == [("order-1", 3, 7), ("order-2", 1, 5)]


async def test_inline_projections_need_a_sql_store() -> None:
    with pytest.raises(fs.UnsupportedUrl):
        await fs.connect("memory://", inline=[OrdersByCustomer()])


async def test_a_postgres_store_schema_that_is_not_a_plain_identifier_is_refused() -> None:
    with pytest.raises(ValueError, match="plain SQL identifier"):
        await fs.connect(f"{POSTGRES_URL}?schema=odd-name", inline=[OrdersByCustomer()])


class OrdersV2(OrdersByCustomer):
    version = 2


async def test_an_inline_read_model_of_another_version_is_refused_and_the_store_closed(
    where: InlineStore,
) -> None:
    async with fs.connect(where.url, inline=[OrdersByCustomer()]) as store:
        await store.append("order-1", order_events("a", [1]))
    with pytest.raises(fs.ProjectionOutdated):
        await fs.connect(where.url, inline=[OrdersV2()])
    async with fs.connect(where.url, inline=[OrdersByCustomer()]) as store:  # still usable
        await store.append("order-2", order_events("b", [2]))
    assert [o for o, _, _ in await _orders(where.target)] == ["order-1", "order-2"]


async def test_two_inline_projections_of_one_name_are_refused(where: InlineStore) -> None:
    with pytest.raises(ValueError, match="distinct names"):
        await fs.connect(where.url, inline=[OrdersByCustomer(), OrdersByCustomer()])
