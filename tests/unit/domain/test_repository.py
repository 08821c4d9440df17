from __future__ import annotations

import asyncio
import datetime as dt
import decimal

import pytest

from factstream import (
    Aggregate,
    AggregateNotFound,
    EventRegistry,
    EventStore,
    NewEvent,
    Repository,
    UnknownEventType,
    WrongExpectedVersion,
)

from .orders import CreateOrder, ItemAdded, Order, OrderCreated

PRICE = decimal.Decimal("2.50")


async def new_order(orders: Repository[Order], order_id: str = "o1", items: int = 0) -> Order:
    order = Order.create(CreateOrder(order_id, "ada"))
    for n in range(items):
        order.add_item(f"sku{n}", 1, PRICE)
    await orders.save(order)
    return order


async def test_a_saved_aggregate_loads_back_with_the_same_state(
    orders: Repository[Order],
) -> None:
    await new_order(orders, items=3)

    loaded = await orders.load("o1")

    assert loaded.customer == "ada"
    assert loaded.total == decimal.Decimal("7.50")
    assert (loaded.version, loaded.committed_version) == (4, 4)
    assert loaded.uncommitted_events == ()


async def test_save_appends_to_the_category_stream_and_returns_the_result(
    orders: Repository[Order], store: EventStore
) -> None:
    order = Order.create(CreateOrder("o1", "ada"))

    result = await orders.save(order)

    assert result is not None
    assert (result.stream_id, result.version) == ("order-o1", 1)
    assert [e.type for e in await store.read("order-o1")] == ["OrderCreated"]
    assert (order.version, order.committed_version, order.uncommitted_events) == (1, 1, ())


async def test_saving_without_new_events_appends_nothing(
    orders: Repository[Order], store: EventStore
) -> None:
    order = await new_order(orders)

    assert await orders.save(order) is None
    assert await store.stream_version("order-o1") == 1


async def test_loading_a_missing_aggregate_raises_not_found(orders: Repository[Order]) -> None:
    with pytest.raises(AggregateNotFound, match=r"Order 'nope' not found \(stream 'order-nope'\)"):
        await orders.load("nope")


async def test_get_returns_none_for_a_missing_aggregate(orders: Repository[Order]) -> None:
    assert await orders.get("nope") is None


async def test_a_stale_aggregate_is_refused_on_save(orders: Repository[Order]) -> None:
    await new_order(orders)
    first = await orders.load("o1")
    second = await orders.load("o1")
    first.add_item("tea", 1, PRICE)
    await orders.save(first)
    second.add_item("cake", 1, PRICE)

    with pytest.raises(WrongExpectedVersion):
        await orders.save(second)

    assert [line[0] for line in (await orders.load("o1")).lines] == ["tea"]


async def test_creating_an_aggregate_that_exists_is_refused(orders: Repository[Order]) -> None:
    await new_order(orders)

    with pytest.raises(WrongExpectedVersion):
        await orders.save(Order.create(CreateOrder("o1", "bob")))


async def test_concurrent_saves_of_one_version_let_exactly_one_win(
    orders: Repository[Order],
) -> None:
    await new_order(orders)
    copies = [await orders.load("o1") for _ in range(10)]
    for n, copy in enumerate(copies):
        copy.add_item(f"sku{n}", 1, PRICE)

    outcomes = await asyncio.gather(*(orders.save(c) for c in copies), return_exceptions=True)

    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(
        isinstance(o, WrongExpectedVersion) for o in outcomes if isinstance(o, BaseException)
    )
    assert (await orders.load("o1")).version == 2


async def test_long_streams_replay_across_read_pages(
    store: EventStore, registry: EventRegistry
) -> None:
    orders = Repository(store, registry, Order, page_size=7)
    await new_order(orders, items=30)

    loaded = await orders.load("o1")

    assert loaded.version == 31
    assert len(loaded.lines) == 30


async def test_a_temporal_load_replays_up_to_a_version(orders: Repository[Order]) -> None:
    await new_order(orders, items=5)

    past = await orders.load("o1", version=3)

    assert past.version == 3
    assert [line[0] for line in past.lines] == ["sku0", "sku1"]


async def test_a_temporal_load_beyond_the_end_gives_the_current_state(
    orders: Repository[Order],
) -> None:
    await new_order(orders, items=2)

    assert (await orders.load("o1", version=99)).version == 3


async def test_a_temporal_load_replays_up_to_a_time(orders: Repository[Order]) -> None:
    order = await new_order(orders, items=1)
    middle = (await orders.store.read("order-o1"))[-1].timestamp
    # Store clocks have microsecond resolution: step past ``middle`` before writing more.
    while dt.datetime.now(dt.UTC) <= middle:  # noqa: ASYNC110  (waits for the clock, no event)
        await asyncio.sleep(0.001)
    order.add_item("late", 1, PRICE)
    await orders.save(order)

    past = await orders.load("o1", as_of=middle)

    assert [line[0] for line in past.lines] == ["sku0"]
    assert past.version == 2


async def test_a_temporal_load_before_the_first_event_is_not_found(
    orders: Repository[Order],
) -> None:
    await new_order(orders)

    with pytest.raises(AggregateNotFound):
        await orders.load("o1", as_of=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


async def test_a_naive_as_of_time_is_refused(orders: Repository[Order]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await orders.load("o1", as_of=dt.datetime(2000, 1, 1))


async def test_metadata_correlation_and_causation_are_stored_with_each_event(
    orders: Repository[Order], store: EventStore
) -> None:
    order = Order.create(CreateOrder("o1", "ada"))
    order.add_item("tea", 1, PRICE)

    await orders.save(order, correlation_id="req-1", causation_id="cmd-1", metadata={"user": "u"})

    stored = await store.read("order-o1")
    assert {(e.correlation_id, e.causation_id) for e in stored} == {("req-1", "cmd-1")}
    assert all(e.metadata == {"user": "u"} for e in stored)


async def test_unknown_events_in_a_stream_fail_the_load_by_default(
    orders: Repository[Order], store: EventStore
) -> None:
    await new_order(orders)
    await store.append("order-o1", [NewEvent("Mystery", {})])

    with pytest.raises(UnknownEventType, match="'Mystery' at position"):
        await orders.load("o1")


async def test_unknown_events_can_be_skipped_and_still_count_as_versions(
    store: EventStore, registry: EventRegistry
) -> None:
    orders = Repository(store, registry, Order, on_unknown="skip")
    await new_order(orders)
    await store.append("order-o1", [NewEvent("Mystery", {})])

    loaded = await orders.load("o1")
    loaded.add_item("tea", 1, PRICE)
    result = await orders.save(loaded)

    assert loaded.version == 3
    assert result is not None
    assert result.version == 3


async def test_a_repository_refuses_aggregates_without_category(
    store: EventStore, registry: EventRegistry
) -> None:
    class Nameless(Aggregate):
        pass

    with pytest.raises(ValueError, match="has no stream category"):
        Repository(store, registry, Nameless)


async def test_a_repository_saves_only_its_aggregate_type(
    orders: Repository[Order],
) -> None:
    class Other(Aggregate, category="other"):
        pass

    with pytest.raises(TypeError, match="saves Order, not Other"):
        await orders.save(Other("x"))  # type: ignore[arg-type]


async def test_event_ids_can_be_chosen_by_the_caller(
    orders: Repository[Order], store: EventStore
) -> None:
    import uuid

    ids = [uuid.uuid4(), uuid.uuid4()]
    order = Order.create(CreateOrder("o1", "ada"))
    order.add_item("tea", 1, PRICE)

    await orders.save(order, event_ids=ids)

    assert [e.id for e in await store.read("order-o1")] == ids


async def test_the_registry_decodes_what_the_repository_saved(
    orders: Repository[Order], store: EventStore, registry: EventRegistry
) -> None:
    await new_order(orders, items=1)

    events = registry.decode_all(await store.read("order-o1"))

    assert events == [OrderCreated("o1", "ada"), ItemAdded("o1", "sku0", 1, PRICE)]
