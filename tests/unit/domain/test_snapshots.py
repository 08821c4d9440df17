from __future__ import annotations

import datetime as dt
import decimal
import logging
from typing import Any, ClassVar

import pytest

from factstream import (
    EventRegistry,
    EventStore,
    EventStoreSnapshotStore,
    MemorySnapshotStore,
    Repository,
    Snapshot,
)

from .orders import CreateOrder, Order

PRICE = decimal.Decimal("1.25")


async def order_with_items(orders: Repository[Order], items: int, per_save: int = 1) -> Order:
    order = Order.create(CreateOrder("o1", "ada"))
    await orders.save(order)
    for n in range(items):
        order.add_item(f"sku{n}", 1, PRICE)
        if (n + 1) % per_save == 0:
            await orders.save(order)
    await orders.save(order)
    return order


@pytest.fixture(params=["memory", "event store"])
def snapshots(request: pytest.FixtureRequest, store: EventStore) -> Any:
    if request.param == "memory":
        return MemorySnapshotStore()
    return EventStoreSnapshotStore(store)


async def test_a_snapshot_is_taken_each_time_the_stream_crosses_a_multiple_of_n(
    store: EventStore, registry: EventRegistry, snapshots: Any
) -> None:
    orders = Repository(store, registry, Order, snapshot_every=5, snapshot_store=snapshots)

    await order_with_items(orders, items=11)  # versions 1 to 12

    snapshot = await snapshots.load("order-o1")
    assert snapshot is not None
    assert snapshot.version == 10
    assert snapshot.schema_version == 1
    assert len(snapshot.state["lines"]) == 9


async def test_a_batch_that_jumps_over_a_multiple_still_takes_a_snapshot(
    store: EventStore, registry: EventRegistry, snapshots: Any
) -> None:
    orders = Repository(store, registry, Order, snapshot_every=5, snapshot_store=snapshots)

    await order_with_items(orders, items=6, per_save=6)  # saves at versions 1 and 7

    snapshot = await snapshots.load("order-o1")
    assert snapshot is not None
    assert snapshot.version == 7


async def test_loading_starts_from_the_snapshot_and_replays_only_later_events(
    store: EventStore, registry: EventRegistry, snapshots: Any
) -> None:
    orders = Repository(store, registry, Order, snapshot_every=10, snapshot_store=snapshots)
    await order_with_items(orders, items=13)  # snapshot at 10, stream at 14

    loaded = await orders.load("o1")

    assert loaded._applied == 4  # events 11 to 14
    assert loaded.version == 14
    assert len(loaded.lines) == 13
    assert loaded.customer == "ada"


async def test_without_a_snapshot_store_the_event_store_keeps_snapshots(
    store: EventStore, registry: EventRegistry
) -> None:
    orders = Repository(store, registry, Order, snapshot_every=3)
    await order_with_items(orders, items=3)

    assert [e.type for e in await store.read("snapshot-order-o1")] == ["factstream.snapshot"]
    assert (await orders.load("o1"))._applied == 1


class OrderV2(Order, category="order"):
    snapshot_version: ClassVar[int] = 2


async def test_a_snapshot_of_another_schema_version_is_ignored(
    store: EventStore, registry: EventRegistry, snapshots: Any
) -> None:
    await order_with_items(
        Repository(store, registry, Order, snapshot_every=2, snapshot_store=snapshots), items=3
    )
    newer = Repository(store, registry, OrderV2, snapshot_every=2, snapshot_store=snapshots)

    loaded = await newer.load("o1")

    assert loaded._applied == 4  # replayed everything
    assert len(loaded.lines) == 3


async def test_an_undecodable_snapshot_is_ignored_and_the_aggregate_replayed(
    store: EventStore,
    registry: EventRegistry,
    snapshots: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    orders = Repository(store, registry, Order, snapshot_every=100, snapshot_store=snapshots)
    await order_with_items(orders, items=3)
    now = dt.datetime.now(dt.UTC)
    await snapshots.save(Snapshot("order-o1", 3, 1, {"customer": 42, "lines": "??"}, now))

    with caplog.at_level(logging.WARNING, logger="factstream.domain.repository"):
        loaded = await orders.load("o1")

    assert loaded._applied == 4
    assert (loaded.customer, len(loaded.lines), loaded.version) == ("ada", 3, 4)
    assert "ignoring the snapshot of order-o1 at version 3" in caplog.text


async def test_a_malformed_snapshot_event_reads_as_no_snapshot(store: EventStore) -> None:
    from factstream import NewEvent

    snapshots = EventStoreSnapshotStore(store)
    await store.append("snapshot-order-o1", [NewEvent("factstream.snapshot", {"junk": 1})])

    assert await snapshots.load("order-o1") is None


async def test_the_event_store_snapshot_store_returns_the_latest_snapshot(
    store: EventStore,
) -> None:
    snapshots = EventStoreSnapshotStore(store)
    now = dt.datetime.now(dt.UTC)
    await snapshots.save(Snapshot("s", 5, 1, {"n": 5}, now))
    await snapshots.save(Snapshot("s", 10, 1, {"n": 10}, now))

    assert await snapshots.load("s") == Snapshot("s", 10, 1, {"n": 10}, now)
    assert await snapshots.load("other") is None


async def test_a_temporal_load_before_the_snapshot_replays_from_the_start(
    store: EventStore, registry: EventRegistry, snapshots: Any
) -> None:
    orders = Repository(store, registry, Order, snapshot_every=5, snapshot_store=snapshots)
    await order_with_items(orders, items=7)

    past = await orders.load("o1", version=3)
    recent = await orders.load("o1", version=7)

    assert (past._applied, len(past.lines)) == (3, 2)
    assert (recent._applied, len(recent.lines)) == (2, 6)  # snapshot at 5, then 6 and 7


async def test_a_temporal_load_by_time_uses_a_snapshot_only_from_before_that_time(
    store: EventStore, registry: EventRegistry, snapshots: Any
) -> None:
    orders = Repository(store, registry, Order, snapshot_every=3, snapshot_store=snapshots)
    await order_with_items(orders, items=1)
    early = (await store.read("order-o1"))[-1].timestamp
    await snapshots.save(
        Snapshot(
            "order-o1",
            2,
            1,
            {"customer": "x", "lines": [], "paid": False},
            early + dt.timedelta(seconds=1),
        )
    )

    past = await orders.load("o1", as_of=early)

    assert (past.customer, len(past.lines)) == ("ada", 1)


class BrokenSnapshots:
    async def load(self, stream_id: str) -> Snapshot | None:
        return None

    async def save(self, snapshot: Snapshot) -> None:
        raise OSError("disk full")


async def test_a_failing_snapshot_does_not_fail_the_save(
    store: EventStore, registry: EventRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    orders = Repository(store, registry, Order, snapshot_every=1, snapshot_store=BrokenSnapshots())

    with caplog.at_level(logging.WARNING, logger="factstream.domain.repository"):
        result = await orders.save(Order.create(CreateOrder("o1", "ada")))

    assert result is not None
    assert result.version == 1
    assert "could not snapshot order-o1 at version 1" in caplog.text


def test_snapshot_every_must_be_positive(store: EventStore, registry: EventRegistry) -> None:
    with pytest.raises(ValueError, match="snapshot_every"):
        Repository(store, registry, Order, snapshot_every=0)
