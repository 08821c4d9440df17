from __future__ import annotations

import decimal

import pytest

from factstream import CommandBus, EventRegistry, MemoryEventStore, Repository, creates, updates
from factstream.testing import CommandScenario, given

from .orders import (
    AddItem,
    CreateOrder,
    EmptyOrder,
    ItemAdded,
    Order,
    OrderAlreadyPaid,
    OrderCreated,
    OrderPaid,
    PayOrder,
    order_registry,
)

CREATED = OrderCreated("o1", "ada")
ONE = decimal.Decimal("1.00")


def test_given_when_then_passes_when_the_events_match() -> None:
    order = (
        given(Order, CREATED, id="o1")
        .when(lambda o: o.add_item("tea", 1, ONE))
        .then(ItemAdded("o1", "tea", 1, ONE))
    )

    assert order.lines == [("tea", 1, ONE)]


def test_then_fails_with_both_event_lists_when_they_differ() -> None:
    outcome = given(Order, CREATED, id="o1").when(lambda o: o.add_item("tea", 1, ONE))

    with pytest.raises(AssertionError, match=r"(?s)expected:.*'cake'.*actual:.*'tea'"):
        outcome.then(ItemAdded("o1", "cake", 1, ONE))


def test_then_fails_when_the_action_raised() -> None:
    outcome = given(Order, CREATED, id="o1").when(lambda o: o.pay())

    with pytest.raises(AssertionError, match="EmptyOrder was raised"):
        outcome.then(OrderPaid("o1", ONE))


def test_then_raises_checks_the_type_and_message() -> None:
    outcome = given(Order, CREATED, id="o1").when(lambda o: o.pay())

    assert isinstance(outcome.then_raises(EmptyOrder, match="o1"), EmptyOrder)
    with pytest.raises(AssertionError, match="expected OrderAlreadyPaid, but EmptyOrder"):
        outcome.then_raises(OrderAlreadyPaid)
    with pytest.raises(AssertionError, match="does not match"):
        outcome.then_raises(EmptyOrder, match="zzz")


def test_then_raises_fails_when_nothing_was_raised() -> None:
    outcome = given(Order, CREATED, id="o1").when(lambda o: o.add_item("tea", 1, ONE))

    with pytest.raises(AssertionError, match="nothing was raised"):
        outcome.then_raises(EmptyOrder)


def test_a_factory_action_is_checked_on_the_aggregate_it_returns() -> None:
    given(Order).when(lambda _: Order.create(CreateOrder("o1", "ada"))).then(CREATED)


def test_then_nothing_requires_no_events() -> None:
    given(Order, CREATED).when(lambda o: None).then_nothing()
    with pytest.raises(AssertionError):
        given(Order, CREATED, id="o1").when(lambda o: o.add_item("a", 1, ONE)).then_nothing()


def scenario(store: MemoryEventStore, registry: EventRegistry) -> CommandScenario:
    orders = Repository(store, registry, Order)
    bus = CommandBus()
    bus.register(CreateOrder, creates(orders, Order.create))
    bus.register(
        AddItem, updates(orders, lambda c: c.order_id, lambda o, c: o.add_item(c.sku, 1, ONE))
    )
    bus.register(PayOrder, updates(orders, lambda c: c.order_id, lambda o, c: o.pay()))
    return CommandScenario(bus, store, registry)


async def test_a_command_scenario_checks_the_events_a_handler_appended(
    memory_store: MemoryEventStore,
) -> None:
    outcome = (
        await scenario(memory_store, order_registry())
        .given("order-o1", CREATED)
        .when(AddItem("o1", "tea"))
    )

    outcome.then(ItemAdded("o1", "tea", 1, ONE)).then_in("order-o1", ItemAdded("o1", "tea", 1, ONE))
    assert outcome.result is not None
    assert outcome.result.version == 2


async def test_a_command_scenario_checks_errors_and_that_nothing_was_appended(
    memory_store: MemoryEventStore,
) -> None:
    kit = scenario(memory_store, order_registry())
    paid = [CREATED, ItemAdded("o1", "tea", 1, ONE), OrderPaid("o1", ONE)]

    outcome = await kit.given("order-o1", *paid).when(PayOrder("o1"))

    outcome.then_raises(OrderAlreadyPaid)
    with pytest.raises(AssertionError):
        outcome.then()


async def test_a_command_scenario_fails_on_unexpected_events(
    memory_store: MemoryEventStore,
) -> None:
    outcome = await scenario(memory_store, order_registry()).when(CreateOrder("o1", "ada"))

    with pytest.raises(AssertionError, match="appended events differ"):
        outcome.then(OrderCreated("o1", "bob"))
    with pytest.raises(AssertionError, match="events appended to 'order-o2' differ"):
        outcome.then_in("order-o2", CREATED)
