from __future__ import annotations

import decimal
import uuid
from typing import Any

import msgspec
import pytest

from factstream import (
    AppendResult,
    CommandBus,
    CommandContext,
    EventRegistry,
    EventStore,
    HandlerNotFound,
    RecordedEvent,
    Repository,
    WrongExpectedVersion,
    creates,
    updates,
)
from factstream.domain.commands import Next

from .orders import (
    AddItem,
    CreateOrder,
    Order,
    OrderAlreadyPaid,
    PayOrder,
)


def order_bus(orders: Repository[Order], **options: Any) -> CommandBus:
    bus = CommandBus(**options)
    bus.register(CreateOrder, creates(orders, Order.create))
    bus.register(
        AddItem,
        updates(orders, lambda c: c.order_id, lambda o, c: o.add_item(c.sku, c.quantity, c.price)),
    )
    bus.register(PayOrder, updates(orders, lambda c: c.order_id, lambda o, c: o.pay()))
    return bus


async def test_dispatch_runs_the_handler_of_the_command_type_and_returns_its_result(
    orders: Repository[Order],
) -> None:
    bus = order_bus(orders)

    result = await bus.dispatch(CreateOrder("o1", "ada"))
    await bus.dispatch(AddItem("o1", "tea"))

    assert isinstance(result, AppendResult)
    assert result.stream_id == "order-o1"
    assert [line[0] for line in (await orders.load("o1")).lines] == ["tea"]


async def test_a_command_without_handler_is_refused(orders: Repository[Order]) -> None:
    with pytest.raises(HandlerNotFound, match="no command handler is registered for PayOrder"):
        await CommandBus().dispatch(PayOrder("o1"))


async def test_a_command_type_has_one_handler(orders: Repository[Order]) -> None:
    bus = order_bus(orders)

    with pytest.raises(ValueError, match="registered already"):
        bus.register(PayOrder, updates(orders, lambda c: c.order_id, lambda o, c: o.pay()))


class Ping(msgspec.Struct, frozen=True):
    name: str


async def test_the_decorator_form_registers_a_handler() -> None:
    bus = CommandBus()

    @bus.handles(Ping)
    async def pong(command: Ping, context: CommandContext) -> str:
        return f"pong {command.name}"

    assert await bus.dispatch(Ping("o9")) == "pong o9"


async def test_middleware_wraps_dispatch_outermost_first(orders: Repository[Order]) -> None:
    calls: list[str] = []

    def tracer(name: str) -> Any:
        async def middleware(command: object, context: CommandContext, call_next: Next) -> Any:
            calls.append(f"{name} in")
            result = await call_next(command, context)
            calls.append(f"{name} out")
            return result

        return middleware

    bus = order_bus(orders, middleware=[tracer("outer")])
    bus.use(tracer("inner"))

    await bus.dispatch(CreateOrder("o1", "ada"))

    assert calls == ["outer in", "inner in", "inner out", "outer out"]


async def test_middleware_added_after_dispatching_wraps_the_next_dispatches(
    orders: Repository[Order],
) -> None:
    seen: list[tuple[str, str]] = []

    def tracer(name: str) -> Any:
        async def middleware(command: object, context: CommandContext, call_next: Next) -> Any:
            seen.append((name, type(command).__name__))
            return await call_next(command, context)

        return middleware

    bus = order_bus(orders)
    await bus.dispatch(CreateOrder("o1", "ada"))  # no middleware yet
    bus.use(tracer("first"))
    await bus.dispatch(AddItem("o1", "tea"))
    await bus.dispatch(CreateOrder("o2", "bob"))
    bus.use(tracer("second"))
    await bus.dispatch(AddItem("o1", "cake"))

    # Each command type runs its own handler inside the chain, whichever ran first.
    assert seen == [
        ("first", "AddItem"),
        ("first", "CreateOrder"),
        ("first", "AddItem"),
        ("second", "AddItem"),
    ]
    assert [line[0] for line in (await orders.load("o1")).lines] == ["tea", "cake"]
    assert (await orders.load("o2")).customer == "bob"


async def test_middleware_can_refuse_a_command(orders: Repository[Order]) -> None:
    async def deny(command: object, context: CommandContext, call_next: Next) -> Any:
        if context.metadata.get("user") != "admin":
            raise PermissionError("admins only")
        return await call_next(command, context)

    bus = order_bus(orders, middleware=[deny])

    with pytest.raises(PermissionError):
        await bus.dispatch(CreateOrder("o1", "ada"), metadata={"user": "bob"})
    assert await orders.get("o1") is None


async def test_a_conflict_reloads_and_runs_the_handler_again(
    orders: Repository[Order], store: EventStore, registry: EventRegistry
) -> None:
    bus = CommandBus()
    bus.register(CreateOrder, creates(orders, Order.create))
    await bus.dispatch(CreateOrder("o1", "ada"))
    attempts: list[int] = []

    @bus.handles(AddItem)
    async def add_racing(command: AddItem, context: CommandContext) -> AppendResult | None:
        attempts.append(context.attempt)
        order = await orders.load(command.order_id)
        if context.attempt == 1:  # another writer gets in between load and save
            rival = await orders.load(command.order_id)
            rival.add_item("rival", 1, decimal.Decimal(1))
            await orders.save(rival)
        order.add_item(command.sku, command.quantity, command.price)
        return await context.save(orders, order)

    await bus.dispatch(AddItem("o1", "tea"))

    assert attempts == [1, 2]
    assert [line[0] for line in (await orders.load("o1")).lines] == ["rival", "tea"]


async def test_retries_are_bounded(orders: Repository[Order]) -> None:
    bus = CommandBus(max_attempts=4)
    attempts: list[int] = []

    @bus.handles(AddItem)
    async def always_conflicting(command: AddItem, context: CommandContext) -> None:
        attempts.append(context.attempt)
        raise WrongExpectedVersion("order-o1", 1, 2)

    with pytest.raises(WrongExpectedVersion):
        await bus.dispatch(AddItem("o1", "tea"))
    assert attempts == [1, 2, 3, 4]


async def test_creating_an_existing_aggregate_is_not_retried(orders: Repository[Order]) -> None:
    bus = order_bus(orders)
    await bus.dispatch(CreateOrder("o1", "ada"))

    with pytest.raises(WrongExpectedVersion) as caught:
        await bus.dispatch(CreateOrder("o1", "bob"))
    assert caught.value.expected == 0


async def test_domain_errors_are_not_retried(orders: Repository[Order]) -> None:
    bus = order_bus(orders)
    await bus.dispatch(CreateOrder("o1", "ada"))
    await bus.dispatch(AddItem("o1", "tea"))
    await bus.dispatch(PayOrder("o1"))

    with pytest.raises(OrderAlreadyPaid):
        await bus.dispatch(AddItem("o1", "cake"))


async def test_a_repeated_command_id_stores_no_new_events(
    orders: Repository[Order], store: EventStore
) -> None:
    bus = order_bus(orders)
    await bus.dispatch(CreateOrder("o1", "ada"))
    command_id = uuid.uuid4()

    first = await bus.dispatch(AddItem("o1", "tea"), command_id=command_id)
    again = await bus.dispatch(AddItem("o1", "tea"), command_id=command_id)

    assert first is not None
    assert again == first  # the same decision: the store returns the original append
    assert await store.stream_version("order-o1") == 2


async def test_a_repeated_command_stores_nothing_even_if_it_decides_differently(
    orders: Repository[Order], store: EventStore
) -> None:
    bus = order_bus(orders)
    await bus.dispatch(CreateOrder("o1", "ada"))
    command_id = uuid.uuid4()
    await bus.dispatch(AddItem("o1", "tea", price=decimal.Decimal(1)), command_id=command_id)

    # Redelivered with other content (e.g. re-priced by a retrying client): same command id.
    again = await bus.dispatch(
        AddItem("o1", "tea", price=decimal.Decimal(2)), command_id=command_id
    )

    assert again is None
    assert await store.stream_version("order-o1") == 2


async def test_a_repeated_creation_command_stores_nothing(
    orders: Repository[Order], store: EventStore
) -> None:
    bus = order_bus(orders)
    command_id = uuid.uuid4()

    first = await bus.dispatch(CreateOrder("o1", "ada"), command_id=command_id)
    again = await bus.dispatch(CreateOrder("o1", "ada"), command_id=command_id)

    assert again == first
    assert await store.stream_version("order-o1") == 1


async def test_repeated_command_ids_are_recognised_by_another_bus_and_repository(
    store: EventStore, registry: EventRegistry
) -> None:
    # Two processes share only the store: nothing in memory carries the dedupe.
    first_process = order_bus(Repository(store, registry, Order))
    second_process = order_bus(Repository(store, registry, Order))
    await first_process.dispatch(CreateOrder("o1", "ada"))
    command_id = uuid.uuid4()

    await first_process.dispatch(AddItem("o1", "tea"), command_id=command_id)
    await second_process.dispatch(AddItem("o1", "tea"), command_id=command_id)

    assert await store.stream_version("order-o1") == 2


class AddItemWithId(msgspec.Struct, frozen=True):
    command_id: uuid.UUID
    order_id: str
    sku: str


async def test_a_command_carrying_its_own_id_is_idempotent(
    orders: Repository[Order], store: EventStore
) -> None:
    bus = order_bus(orders)
    bus.register(
        AddItemWithId,
        updates(
            orders, lambda c: c.order_id, lambda o, c: o.add_item(c.sku, 1, decimal.Decimal(1))
        ),
    )
    await bus.dispatch(CreateOrder("o1", "ada"))
    command = AddItemWithId(uuid.uuid4(), "o1", "tea")

    await bus.dispatch(command)
    await bus.dispatch(command)

    stored = await store.read("order-o1")
    assert len(stored) == 2
    assert stored[1].causation_id == str(command.command_id)


async def test_events_carry_the_correlation_id_and_the_command_id_as_causation(
    orders: Repository[Order], store: EventStore
) -> None:
    bus = order_bus(orders)
    command_id = uuid.uuid4()

    await bus.dispatch(
        CreateOrder("o1", "ada"),
        command_id=command_id,
        correlation_id="req-7",
        metadata={"user": "ada"},
    )

    [event] = await store.read("order-o1")
    assert (event.correlation_id, event.causation_id) == ("req-7", str(command_id))
    assert event.metadata == {"user": "ada"}


async def test_a_command_that_starts_a_conversation_correlates_by_its_own_id(
    orders: Repository[Order], store: EventStore
) -> None:
    command_id = uuid.uuid4()

    await order_bus(orders).dispatch(CreateOrder("o1", "ada"), command_id=command_id)

    [event] = await store.read("order-o1")
    assert event.correlation_id == event.causation_id == str(command_id)


async def test_a_command_caused_by_an_event_carries_its_correlation_onward(
    orders: Repository[Order], store: EventStore
) -> None:
    bus = order_bus(orders)
    await bus.dispatch(CreateOrder("o1", "ada"), correlation_id="checkout-42")
    [created] = await store.read("order-o1")

    await bus.dispatch(AddItem("o1", "welcome-gift"), caused_by=created)

    added = (await store.read("order-o1"))[1]
    assert added.correlation_id == "checkout-42"
    context = CommandBus.context_for(AddItem("o1", "x"), caused_by=created)
    assert added.causation_id == str(context.command_id)
    assert context.causation_id == str(created.id)


async def test_a_command_caused_by_a_redelivered_event_is_applied_once(
    orders: Repository[Order], store: EventStore
) -> None:
    bus = order_bus(orders)
    await bus.dispatch(CreateOrder("o1", "ada"))
    [created] = await store.read("order-o1")

    for _ in range(3):  # at-least-once delivery of ``created`` to a policy
        await bus.dispatch(AddItem("o1", "welcome-gift"), caused_by=created)

    assert await store.stream_version("order-o1") == 2


async def test_correlation_without_id_on_the_cause_falls_back_to_the_cause_id() -> None:
    import datetime as dt

    cause = RecordedEvent(uuid.uuid4(), "Tick", {}, {}, "clock", 1, 1, dt.datetime.now(dt.UTC))

    context = CommandBus.context_for(PayOrder("o1"), caused_by=cause)

    assert context.correlation_id == str(cause.id)


def test_a_context_without_correlation_id_correlates_by_the_command_id() -> None:
    command_id = uuid.uuid4()

    assert CommandContext(command_id).correlation_id == str(command_id)
    assert CommandContext(command_id, "").correlation_id == str(command_id)
    assert CommandContext(command_id, "checkout-1").correlation_id == "checkout-1"


async def test_derived_event_ids_are_the_documented_uuid5() -> None:
    command_id = uuid.uuid4()
    context = CommandContext(command_id, "c")

    ids = context.event_ids("order-1", 2)

    assert ids == [uuid.uuid5(command_id, "order-1:0"), uuid.uuid5(command_id, "order-1:1")]


async def test_one_command_writing_two_streams_gets_distinct_deterministic_ids() -> None:
    context = CommandContext(uuid.uuid4(), "c")

    first = context.event_ids("order-1", 2) + context.event_ids("order-1", 1)
    other = context.event_ids("stock-1", 1)
    context._next_attempt()
    rerun = context.event_ids("order-1", 3)

    assert len(set(first + other)) == 4
    assert rerun == first


async def test_a_handler_saving_twice_to_one_stream_is_idempotent_as_a_whole(
    orders: Repository[Order], store: EventStore
) -> None:
    bus = CommandBus()
    bus.register(CreateOrder, creates(orders, Order.create))

    @bus.handles(AddItem)
    async def add_twice(command: AddItem, context: CommandContext) -> None:
        order = await orders.load(command.order_id)
        order.add_item(command.sku, 1, decimal.Decimal(1))
        await context.save(orders, order)
        order.add_item(command.sku + "-again", 1, decimal.Decimal(1))
        await context.save(orders, order)

    await bus.dispatch(CreateOrder("o1", "ada"))
    command_id = uuid.uuid4()
    await bus.dispatch(AddItem("o1", "tea"), command_id=command_id)
    await bus.dispatch(AddItem("o1", "tea"), command_id=command_id)

    assert await store.stream_version("order-o1") == 3


async def test_unrelated_duplicate_event_ids_still_raise(orders: Repository[Order]) -> None:
    from factstream import DuplicateEventId

    bus = CommandBus()
    stolen = uuid.uuid4()

    @bus.handles(CreateOrder)
    async def reuse_an_id(command: CreateOrder, context: CommandContext) -> None:
        await orders.save(Order.create(command), event_ids=[stolen])

    await bus.dispatch(CreateOrder("o1", "ada"))
    with pytest.raises(DuplicateEventId):
        await bus.dispatch(CreateOrder("o2", "bob"))


def test_max_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        CommandBus(max_attempts=0)
