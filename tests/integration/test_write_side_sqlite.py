"""The write side on a real SQLite file: repository, snapshots and command bus, across
connections and processes."""

from __future__ import annotations

import asyncio
import decimal
import pathlib
import sys
import uuid

from factstream import (
    CommandBus,
    EventRegistry,
    EventStore,
    Repository,
    connect,
    creates,
    updates,
)
from tests.unit.domain.orders import AddItem, CreateOrder, Order, PayOrder, order_registry

ROOT = pathlib.Path(__file__).resolve().parents[2]


def wire(
    store: EventStore, registry: EventRegistry, **options: int
) -> tuple[Repository[Order], CommandBus]:
    orders = Repository(store, registry, Order, snapshot_every=options.get("snapshot_every"))
    bus = CommandBus(max_attempts=options.get("max_attempts", 3))
    bus.register(CreateOrder, creates(orders, Order.create))
    bus.register(
        AddItem, updates(orders, lambda c: c.order_id, lambda o, c: o.add_item(c.sku, 1, c.price))
    )
    bus.register(PayOrder, updates(orders, lambda c: c.order_id, lambda o, c: o.pay()))
    return orders, bus


async def test_state_written_through_the_bus_survives_reopening_the_file(
    tmp_path: pathlib.Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    registry = order_registry()
    async with connect(url) as store:
        _, bus = wire(store, registry, snapshot_every=4)
        await bus.dispatch(CreateOrder("o1", "ada"))
        for n in range(9):
            await bus.dispatch(AddItem("o1", f"sku{n}"))
        await bus.dispatch(PayOrder("o1"))

    async with connect(url) as store:
        orders, _ = wire(store, registry, snapshot_every=4)
        loaded = await orders.load("o1")
        snapshot = await orders.snapshot_store.load("order-o1")  # type: ignore[union-attr]
        past = await orders.load("o1", version=5)

    assert (loaded.version, loaded.paid, loaded.total) == (11, True, decimal.Decimal("9.00"))
    assert loaded._applied == 3  # snapshot at 8, then events 9 to 11
    assert snapshot is not None
    assert snapshot.version == 8
    assert (past.version, len(past.lines), past.paid) == (5, 4, False)


async def test_concurrent_commands_on_one_aggregate_all_land_through_retries(
    tmp_path: pathlib.Path,
) -> None:
    async with connect(f"sqlite:///{tmp_path / 'events.db'}") as store:
        orders, bus = wire(store, order_registry(), max_attempts=50)
        await bus.dispatch(CreateOrder("o1", "ada"))

        await asyncio.gather(*(bus.dispatch(AddItem("o1", f"sku{n}")) for n in range(20)))

        loaded = await orders.load("o1")
    assert loaded.version == 21
    assert sorted(line[0] for line in loaded.lines) == sorted(f"sku{n}" for n in range(20))


async def test_a_command_repeated_on_two_connections_is_stored_once(
    tmp_path: pathlib.Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    registry = order_registry()
    command_id = uuid.uuid4()
    async with connect(url) as first, connect(url) as second:
        _, bus_one = wire(first, registry)
        _, bus_two = wire(second, registry)
        await bus_one.dispatch(CreateOrder("o1", "ada"))

        await asyncio.gather(
            bus_one.dispatch(AddItem("o1", "tea"), command_id=command_id),
            bus_two.dispatch(AddItem("o1", "tea"), command_id=command_id),
        )

        assert await first.stream_version("order-o1") == 2


async def test_a_command_repeated_by_two_processes_at_once_is_stored_once(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "events.db"
    async with connect(f"sqlite:///{path}") as store:
        _, bus = wire(store, order_registry())
        await bus.dispatch(CreateOrder("o1", "ada"))
    command_id = str(uuid.uuid4())

    async def worker(sku: str, command: str) -> int:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.write_side_worker",
            str(path),
            "o1",
            command,
            sku,
            cwd=ROOT,
        )
        return await process.wait()

    codes = await asyncio.gather(
        worker("tea", command_id), worker("tea", command_id), worker("cake", str(uuid.uuid4()))
    )

    assert list(codes) == [0, 0, 0]
    async with connect(f"sqlite:///{path}") as store:
        orders = Repository(store, order_registry(), Order)
        loaded = await orders.load("o1")
    assert sorted(line[0] for line in loaded.lines) == ["cake", "tea"]
