"""The command handlers through the bus and a store (given / when / then)."""

from __future__ import annotations

from decimal import Decimal

import factstream as fs
from examples.orders.commands import (
    AddItem,
    CreateOrder,
    ReceiveStock,
    ReleaseStock,
    ReserveStock,
    ShipOrder,
)
from examples.orders.domain import OrderCreated
from examples.orders.errors import CannotShip, OrderAlreadyExists
from examples.orders.handlers import Repositories
from examples.orders.inventory import (
    ReservationConfirmed,
    ReservationRejected,
    ReservationReleased,
    ReservedLine,
    StockReceived,
    StockReleased,
    StockReserved,
)
from factstream.testing import CommandScenario

LINES = (ReservedLine("jam", 2), ReservedLine("tea", 3))


def scenario(
    bus: fs.CommandBus, store: fs.EventStore, registry: fs.EventRegistry
) -> CommandScenario:
    return CommandScenario(bus, store, registry)


async def test_create_order(
    bus: fs.CommandBus, store: fs.EventStore, registry: fs.EventRegistry
) -> None:
    outcome = await scenario(bus, store, registry).when(CreateOrder("o1", "ada"))
    outcome.then(OrderCreated("o1", "ada"))


async def test_creating_an_existing_order_is_refused(
    bus: fs.CommandBus, store: fs.EventStore, registry: fs.EventRegistry
) -> None:
    outcome = (
        await scenario(bus, store, registry)
        .given("order-o1", OrderCreated("o1", "ada"))
        .when(CreateOrder("o1", "bob"))
    )
    outcome.then_raises(OrderAlreadyExists)


async def test_a_repeated_command_stores_nothing_new(
    bus: fs.CommandBus, store: fs.EventStore
) -> None:
    command_id = fs.uuid7()
    await bus.dispatch(CreateOrder("o1", "ada"))
    add = AddItem("o1", "tea", 1, Decimal("2.00"))
    first = await bus.dispatch(add, command_id=command_id)
    again = await bus.dispatch(add, command_id=command_id)
    assert again == first
    assert await store.stream_version("order-o1") == 2


async def test_shipping_a_cancelled_order_stores_nothing(
    bus: fs.CommandBus, store: fs.EventStore, registry: fs.EventRegistry
) -> None:
    from examples.orders.domain import OrderCancelled

    outcome = (
        await scenario(bus, store, registry)
        .given("order-o1", OrderCreated("o1", "ada"), OrderCancelled("o1", "no"))
        .when(ShipOrder("o1"))
    )
    outcome.then_raises(CannotShip)


async def test_reserve_stock_reserves_every_line(
    bus: fs.CommandBus, store: fs.EventStore, registry: fs.EventRegistry
) -> None:
    outcome = (
        await scenario(bus, store, registry)
        .given("stock-tea", StockReceived("tea", 5))
        .given("stock-jam", StockReceived("jam", 2))
        .when(ReserveStock("o1", LINES))
    )
    outcome.then_in("stock-tea", StockReserved("tea", "o1", 3))
    outcome.then_in("stock-jam", StockReserved("jam", "o1", 2))
    outcome.then_in("reservation-o1", ReservationConfirmed("o1", LINES))


async def test_reserve_stock_reserves_nothing_when_a_sku_is_short(
    bus: fs.CommandBus, store: fs.EventStore, registry: fs.EventRegistry
) -> None:
    outcome = (
        await scenario(bus, store, registry)
        .given("stock-tea", StockReceived("tea", 5))
        .given("stock-jam", StockReceived("jam", 1))
        .when(ReserveStock("o1", LINES))
    )
    outcome.then(ReservationRejected("o1", "jam", 2, 1))


async def test_reserving_twice_changes_nothing(
    bus: fs.CommandBus, store: fs.EventStore, registry: fs.EventRegistry
) -> None:
    await bus.dispatch(ReceiveStock("tea", 5))
    await bus.dispatch(ReceiveStock("jam", 5))
    await bus.dispatch(ReserveStock("o1", LINES))
    outcome = await scenario(bus, store, registry).when(ReserveStock("o1", LINES))
    outcome.then()


async def test_release_gives_the_stock_back(
    bus: fs.CommandBus, store: fs.EventStore, registry: fs.EventRegistry, repositories: Repositories
) -> None:
    await bus.dispatch(ReceiveStock("tea", 5))
    await bus.dispatch(ReceiveStock("jam", 5))
    await bus.dispatch(ReserveStock("o1", LINES))
    outcome = await scenario(bus, store, registry).when(ReleaseStock("o1"))
    outcome.then(
        StockReleased("jam", "o1", 2), StockReleased("tea", "o1", 3), ReservationReleased("o1")
    )
    assert (await repositories.stock.load("tea")).available == 5


async def test_concurrent_reservations_never_oversell(
    bus: fs.CommandBus, repositories: Repositories
) -> None:
    # 40 orders of 3 for 60 units: exactly 20 can be reserved, whatever the interleaving.
    await bus.dispatch(ReceiveStock("tea", 60))
    import asyncio

    await asyncio.gather(
        *(bus.dispatch(ReserveStock(f"o{n}", (ReservedLine("tea", 3),))) for n in range(40))
    )
    stock = await repositories.stock.load("tea")
    assert (stock.available, len(stock.held)) == (0, 20)
    outcomes = [(await repositories.reservations.load(f"o{n}")).status for n in range(40)]
    assert sorted(outcomes).count("reserved") == 20


async def test_stock_snapshots_agree_with_replay(
    bus: fs.CommandBus, store: fs.EventStore, registry: fs.EventRegistry
) -> None:
    # The bus's repositories snapshot every 5 events.
    for _ in range(12):
        await bus.dispatch(ReceiveStock("tea", 1))
    await bus.dispatch(ReserveStock("o1", (ReservedLine("tea", 4),)))
    snapshotted = await Repositories.over(store, registry, snapshot_every=5).stock.load("tea")
    replayed = await fs.Repository(store, registry, type(snapshotted)).load("tea")
    assert (
        (snapshotted.available, snapshotted.held)
        == (replayed.available, replayed.held)
        == (8, {"o1": 4})
    )
    assert await store.read("snapshot-stock-tea")
