"""Process managers: commands caused by events, state with the checkpoint, idempotent by the
event's id, correlation carried on."""

from __future__ import annotations

import decimal
from typing import Any

import pytest

import factstream as fs
from factstream import CommandBus, Repository, creates, updates
from factstream.projections import (
    ProcessContext,
    ProcessManager,
    ProjectionRunner,
    RecordingDispatcher,
    SqlTarget,
    command_id_for,
)
from tests.unit.domain.orders import AddItem, CreateOrder, Order, PayOrder, order_registry

from .helpers import query


class WelcomeGifts(ProcessManager):
    """A customer's first order gets two gifts; the workflow ends when that order is paid."""

    name = "welcome_gifts"

    def key(self, event: fs.RecordedEvent) -> str:
        return str(event.data.get("customer") or event.data["order_id"])

    @fs.handles("OrderCreated")
    async def created(self, event: fs.RecordedEvent, ctx: ProcessContext) -> None:
        ctx.state["orders"] = ctx.state.get("orders", 0) + 1
        if ctx.state["orders"] == 1:
            order_id = event.data["order_id"]
            ctx.state["first"] = order_id
            await ctx.send(AddItem(order_id, "gift-mug", 1, decimal.Decimal(0)))
            await ctx.send(AddItem(order_id, "gift-card", 1, decimal.Decimal(0)))

    @fs.handles("OrderPaid")
    async def paid(self, event: fs.RecordedEvent, ctx: ProcessContext) -> None:
        ctx.finish()


def bus_for(store: fs.EventStore) -> CommandBus:
    orders = Repository(store, order_registry(), Order)
    bus = CommandBus()
    bus.register(CreateOrder, creates(orders, Order.create))
    bus.register(
        AddItem,
        updates(orders, lambda c: c.order_id, lambda o, c: o.add_item(c.sku, c.quantity, c.price)),
    )
    bus.register(PayOrder, updates(orders, lambda c: c.order_id, lambda o, c: o.pay()))
    return bus


async def test_a_process_manager_sends_commands_caused_by_the_event_with_its_correlation(
    store: fs.EventStore, target: SqlTarget
) -> None:
    bus = bus_for(store)
    await bus.dispatch(CreateOrder("o1", "ada"), correlation_id="checkout-1")
    await bus.dispatch(CreateOrder("o2", "ada"), correlation_id="checkout-2")
    runner = ProjectionRunner(store, WelcomeGifts(bus.dispatch), target)
    await runner.catch_up(2)

    events = await store.read("order-o1")
    assert [e.type for e in events] == ["OrderCreated", "ItemAdded", "ItemAdded"]
    created, mug, card = events
    assert [e.data["sku"] for e in (mug, card)] == ["gift-mug", "gift-card"]
    assert {e.correlation_id for e in events} == {"checkout-1"}
    assert mug.causation_id == str(command_id_for(created, AddItem("o1", "gift-mug"), 0))
    assert card.causation_id == str(command_id_for(created, AddItem("o1", "gift-card"), 1))
    assert len(await store.read("order-o2")) == 1  # not a first order: no gifts
    rows = await query(target, "SELECT key, data FROM state")
    assert [(k, fs_json(d)) for k, d in rows] == [("ada", {"orders": 2, "first": "o1"})]


def fs_json(text: str) -> Any:
    import json

    return json.loads(text)


async def test_a_redelivered_event_sends_nothing_twice(
    store: fs.EventStore, target: SqlTarget, tmp_path: Any
) -> None:
    bus = bus_for(store)
    await bus.dispatch(CreateOrder("o1", "bob"))
    await ProjectionRunner(store, WelcomeGifts(bus.dispatch), target).catch_up(1)
    assert await store.stream_version("order-o1") == 3
    head = await store.head_position()

    # The same events handled again from position 1 (a checkpoint lost, a second copy of the
    # process manager): the commands carry the same ids, the store keeps nothing new.
    elsewhere = fs.SqliteTarget(tmp_path / "other.db")
    again = RecordingDispatcher(then=bus.dispatch)
    await ProjectionRunner(store, WelcomeGifts(again), elsewhere).catch_up(1)
    assert len(again.sent) == 2
    assert await store.stream_version("order-o1") == 3
    assert await store.head_position() == head


async def test_finishing_deletes_the_state_with_the_checkpoint(
    store: fs.EventStore, target: SqlTarget
) -> None:
    bus = bus_for(store)
    await bus.dispatch(CreateOrder("o1", "cy"))
    manager = WelcomeGifts(bus.dispatch)
    await ProjectionRunner(store, manager, target).catch_up(1)
    assert await query(target, "SELECT key FROM state") == [("cy",)]
    await bus.dispatch(PayOrder("o1"))

    class ByOrder(WelcomeGifts):
        def key(self, event: fs.RecordedEvent) -> str:
            return "cy" if event.type == "OrderPaid" else super().key(event)

    await ProjectionRunner(store, ByOrder(bus.dispatch), target).catch_up()
    assert await query(target, "SELECT key FROM state") == []


async def test_a_failing_command_parks_the_event_and_the_workflow_waits(
    store: fs.EventStore, target: SqlTarget
) -> None:
    async def refuse(command: object, /, **_: Any) -> None:
        raise RuntimeError("the stock service is down")

    bus = bus_for(store)
    await bus.dispatch(CreateOrder("o1", "dee"))
    runner = ProjectionRunner(
        store, WelcomeGifts(refuse), target, retry=fs.RetryPolicy(attempts=2, first_delay=0)
    )
    await runner.catch_up(1)
    async with fs.DeadLetters(target, "welcome_gifts") as dlq:
        parked = await dlq.list()
    assert [p.position for p in parked] == [1]
    assert parked[0].error is not None
    assert "stock service is down" in parked[0].error
    assert await query(target, "SELECT key FROM state") == []


def test_a_process_manager_needs_a_dispatcher() -> None:
    with pytest.raises(TypeError):
        WelcomeGifts()  # type: ignore[call-arg]
