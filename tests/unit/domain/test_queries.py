from __future__ import annotations

import decimal

import pytest

from factstream import EventRegistry, EventStore, HandlerNotFound, QueryBus, Repository

from .orders import CreateOrder, GetTotal, Order


async def test_ask_returns_the_answer_of_the_handler_for_the_query_type(
    orders: Repository[Order],
) -> None:
    order = Order.create(CreateOrder("o1", "ada"))
    order.add_item("tea", 2, decimal.Decimal("1.50"))
    await orders.save(order)
    queries = QueryBus()

    async def total(query: GetTotal) -> decimal.Decimal:
        return (await orders.load(query.order_id)).total

    queries.register(GetTotal, total)

    answer: decimal.Decimal = await queries.ask(GetTotal("o1"))  # typed by Query[Decimal]

    assert answer == decimal.Decimal("3.00")


async def test_asking_changes_nothing_in_the_store(
    orders: Repository[Order], store: EventStore
) -> None:
    await orders.save(Order.create(CreateOrder("o1", "ada")))
    queries = QueryBus()
    queries.register(GetTotal, lambda q: _total(orders, q))
    head = await store.head_position()

    await queries.ask(GetTotal("o1"))
    await queries.ask(GetTotal("o1"))

    assert await store.head_position() == head


async def _total(orders: Repository[Order], query: GetTotal) -> decimal.Decimal:
    return (await orders.load(query.order_id)).total


async def test_a_query_without_handler_is_refused() -> None:
    with pytest.raises(HandlerNotFound, match="no query handler is registered for GetTotal"):
        await QueryBus().ask(GetTotal("o1"))


def test_a_query_type_has_one_handler(registry: EventRegistry) -> None:
    queries = QueryBus()

    @queries.handles(GetTotal)
    async def first(query: GetTotal) -> decimal.Decimal:
        return decimal.Decimal(0)

    with pytest.raises(ValueError, match="registered already"):
        queries.register(GetTotal, first)
