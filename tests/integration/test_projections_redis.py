"""Redis read models: batches applied atomically and idempotently by position, dead letters,
and the query cache the projections invalidate (against the real Redis)."""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from collections.abc import AsyncIterator

import pytest
from typer.testing import CliRunner

import factstream as fs
from factstream.cli.app import app
from factstream.projections import (
    CheckpointConflict,
    ProjectionOutdated,
    ProjectionRunner,
    RedisQueryCache,
    RedisTarget,
    RedisTransaction,
    RetryPolicy,
)
from factstream.projections.readmodels.redis import open_redis_read_model
from factstream.projections.targets import target_from_url
from tests.services import require

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_target() -> AsyncIterator[RedisTarget]:
    require("Redis", "127.0.0.1", 6379)
    target = RedisTarget(REDIS_URL, f"fstest:{uuid.uuid4().hex[:12]}:")
    yield target
    client = await target.connect()
    try:
        keys = [k async for k in client.scan_iter(match=target.prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


class OrderViews(fs.Projection[RedisTransaction]):
    """A hash per order and a set of orders per customer; ``ItemAdded`` is not idempotent."""

    name = "order_views"

    def __init__(self, poison: str | None = None) -> None:
        super().__init__()
        self.poison = poison

    @fs.handles("OrderCreated")
    def created(self, event: fs.RecordedEvent, tx: RedisTransaction) -> None:
        tx.hset(f"order:{event.stream_id}", {"customer": event.data["customer"], "total": 0})
        tx.sadd(f"customer:{event.data['customer']}", event.stream_id)
        if event.stream_id == self.poison:
            tx.hset(f"customer:{event.data['customer']}", {"oops": 1})  # WRONGTYPE: a set

    @fs.handles("ItemAdded")
    def item_added(self, event: fs.RecordedEvent, tx: RedisTransaction) -> None:
        tx.hincrby(f"order:{event.stream_id}", "total", event.data["price"])
        tx.incrby("items_sold", 1)


async def _orders(store: fs.EventStore, count: int, items: int = 3, start: int = 0) -> int:
    position = 0
    for n in range(start, start + count):
        events = [fs.NewEvent("OrderCreated", {"customer": f"c{n % 3}"})]
        events += [fs.NewEvent("ItemAdded", {"price": 10 + i}) for i in range(items)]
        position = (await store.append(f"order-{n}", events)).position
    return position


async def test_redis_runner_catches_up_resumes_and_applies_each_event_once(
    redis_target: RedisTarget,
) -> None:
    async with fs.connect("memory://") as store:
        await _orders(store, 10)
        runner = ProjectionRunner(store, OrderViews(), redis_target, batch_size=7)
        assert await runner.catch_up() == 40
        head = await _orders(store, 5, start=10)
        async with ProjectionRunner(store, OrderViews(), redis_target, batch_size=7) as live:
            assert live.position == 40
            more = await store.append("order-0", [fs.NewEvent("ItemAdded", {"price": 100})])
            assert more.position == head + 1
            assert await live.wait_for(more.position, timeout=10)
    client = await redis_target.connect()
    try:
        assert (
            await client.get(redis_target.key("order_views", "items_sold")) == "46"
        )  # 15 orders x 3 items + 1
        order = await client.hgetall(redis_target.key("order_views", "order:order-0"))
        assert order == {"customer": "c0", "total": str(10 + 11 + 12 + 100)}
        assert await client.smembers(redis_target.key("order_views", "customer:c1")) == {
            "order-1",
            "order-4",
            "order-7",
            "order-10",
            "order-13",
        }
        checkpoints = redis_target.key("order_views", "_fs:checkpoints")
        assert await client.hgetall(checkpoints) == {"0": str(head + 1)}
    finally:
        await client.aclose()


async def test_a_batch_sent_twice_applies_once(redis_target: RedisTarget) -> None:
    async with fs.connect("memory://") as store:
        await _orders(store, 1)
        events = [e async for e in store.read_all()]
    model = await open_redis_read_model(redis_target, OrderViews())
    try:
        for attempt in range(2):
            batch = model.transaction()
            await batch.begin({0: 0})
            await OrderViews().apply(events, batch.handle)
            batch.advance({0: 4})
            if attempt == 0:
                await batch.commit()
            else:
                with pytest.raises(CheckpointConflict):
                    await batch.commit()
        assert await model.load_checkpoints([0]) == {0: 4}
        assert await model.client.get(model.key_prefix + "items_sold") == "3"
    finally:
        await model.close()


async def test_a_poison_event_is_parked_whole_while_other_streams_go_on(
    redis_target: RedisTarget,
) -> None:
    async with fs.connect("memory://") as store:
        await _orders(store, 3, items=2)  # order-0 .. order-2 created first
        await store.append("order-1", [fs.NewEvent("ItemAdded", {"price": 5})])
        runner = ProjectionRunner(
            store,
            OrderViews(poison="order-4"),
            redis_target,
            batch_size=100,
            retry=RetryPolicy(attempts=2, first_delay=0),
        )
        await store.append("order-4", [fs.NewEvent("OrderCreated", {"customer": "c1"})])
        await store.append("order-4", [fs.NewEvent("ItemAdded", {"price": 7})])
        await store.append("order-2", [fs.NewEvent("ItemAdded", {"price": 9})])
        assert await runner.catch_up() == 13
    model = await open_redis_read_model(redis_target, OrderViews())
    try:
        parked = await model.parked_in_stream("order-4")
        assert [(p.position, p.event.type) for p in parked] == [
            (11, "OrderCreated"),
            (12, "ItemAdded"),
        ]
        assert parked[0].error is not None
        assert "WRONGTYPE" in parked[0].error
        assert parked[1].error is None
        client = model.client
        # Nothing of the failed event was written (checked before applying), later streams went on.
        assert await client.exists(model.key_prefix + "order:order-4") == 0
        assert await client.hget(model.key_prefix + "order:order-2", "total") == str(10 + 11 + 9)
        assert await client.get(model.key_prefix + "items_sold") == str(3 * 2 + 1 + 1)
    finally:
        await model.close()


async def test_a_redis_read_model_of_another_version_is_refused(redis_target: RedisTarget) -> None:
    class Newer(OrderViews):
        version = 2

    await (await open_redis_read_model(redis_target, OrderViews())).close()
    with pytest.raises(ProjectionOutdated):
        await open_redis_read_model(redis_target, Newer())
    assert await redis_target.reset("order_views") >= 1
    await (await open_redis_read_model(redis_target, Newer())).close()


def test_redis_urls_name_a_target() -> None:
    target = target_from_url("redis://127.0.0.1:6379/2?prefix=app:")
    assert target == RedisTarget("redis://127.0.0.1:6379/2", "app:")
    assert target_from_url("redis://localhost") == RedisTarget("redis://localhost", "fs:")


class CachedCounts(fs.Projection[RedisTransaction]):
    name = "cached_counts"

    def __init__(self, cache: RedisQueryCache) -> None:
        super().__init__()
        self.cache = cache

    @fs.handles("OrderCreated")
    def created(self, event: fs.RecordedEvent, tx: RedisTransaction) -> None:
        tx.incrby(f"orders:{event.data['customer']}")
        self.cache.invalidate_after_commit(tx, f"customer:{event.data['customer']}")


async def test_the_query_cache_is_invalidated_after_the_projection_commits(
    redis_target: RedisTarget,
) -> None:
    cache = RedisQueryCache(redis_target, "test")
    computed: list[str] = []
    client = await redis_target.connect()

    async def count(customer: str) -> int:
        async def load() -> int:
            computed.append(customer)
            value = await client.get(redis_target.key("cached_counts", f"orders:{customer}"))
            return int(value or 0)

        return await cache.get_or_compute(f"count:{customer}", [f"customer:{customer}"], load)

    try:
        async with (
            fs.connect("memory://") as store,
            ProjectionRunner(store, CachedCounts(cache), redis_target) as runner,
        ):
            assert await count("ada") == 0
            assert await count("ada") == 0  # cached
            result = await store.append("o1", [fs.NewEvent("OrderCreated", {"customer": "ada"})])
            assert await runner.wait_for(result.position, timeout=10)
            # After-commit callbacks (the invalidation) run before wait_for returns.
            assert await count("ada") == 1
            assert await count("bob") == 0
        assert computed.count("ada") == 2
        assert computed.count("bob") == 1
    finally:
        await client.aclose()
        await cache.close()


def test_cli_rebuild_of_a_redis_read_model_resets_and_catches_up(
    redis_target: RedisTarget, tmp_path: pathlib.Path
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"

    async def fill() -> None:
        async with fs.connect(url) as store:
            await _orders(store, 4)
            await ProjectionRunner(store, OrderViews(), redis_target).catch_up()
            await _orders(store, 1, start=4)  # not projected yet

    asyncio.run(fill())
    target_url = f"{redis_target.url}?prefix={redis_target.prefix}"
    spec = "tests.integration.test_projections_redis:OrderViews"
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["projections", "rebuild", "-p", spec, "-t", target_url, "-s", url]
    )
    assert result.exit_code == 0, result.output
    assert "rebuilt in Redis up to position 20" in result.output

    async def items_sold() -> str | None:
        client = await redis_target.connect()
        try:
            value: str | None = await client.get(redis_target.key("order_views", "items_sold"))
            return value
        finally:
            await client.aclose()

    assert asyncio.run(items_sold()) == "15"


async def test_a_checkpoint_waiter_reads_a_redis_read_models_checkpoint(
    redis_target: RedisTarget,
) -> None:
    async with fs.connect("memory://") as store:
        head = await _orders(store, 2)
        async with fs.CheckpointWaiter(redis_target, "order_views", poll_interval=0.01) as waiter:
            assert not await waiter.wait_for(head, timeout=0)
            async with ProjectionRunner(store, OrderViews(), redis_target):
                assert await waiter.wait_for(head, timeout=10)
            assert await waiter.position() == head
