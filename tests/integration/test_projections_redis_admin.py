"""``factstream dlq`` and ``factstream projections status`` on Redis read models (real Redis):
heartbeats, status (running, stopped, dead), and parked events listed, shown, retried after
the handler is fixed, and skipped."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from typer.testing import CliRunner

import factstream as fs
from factstream.cli.app import app
from factstream.projections import DeadLetters, ProjectionRunner, RedisTarget, RetryPolicy
from factstream.projections.heartbeats import projection_status
from factstream.projections.readmodels.redis_letters import RedisLetters
from factstream.projections.readmodels.redis_runners import RedisHeartbeat
from tests.services import require

from .test_projections_redis import REDIS_URL, OrderViews, redis_target  # noqa: F401

CLI = CliRunner(env={"COLUMNS": "250"})


def _url(target: RedisTarget) -> str:
    return f"{REDIS_URL}?prefix={target.prefix}"


async def _cli(*args: str) -> tuple[int, str]:
    """Run the command line in a thread (it runs its own event loop)."""
    result = await asyncio.to_thread(CLI.invoke, app, list(args))
    return result.exit_code, result.output


async def _poisoned(store: fs.EventStore) -> None:
    for n in range(3):
        await store.append(f"order-{n}", [fs.NewEvent("OrderCreated", {"customer": f"c{n}"})])
    await store.append("order-1", [fs.NewEvent("ItemAdded", {"price": 5})])
    await store.append("order-1", [fs.NewEvent("ItemAdded", {"price": 6})])
    await store.append("order-2", [fs.NewEvent("ItemAdded", {"price": 7})])


async def _parked(target: RedisTarget) -> None:
    """order-1's events parked behind its poisoned first event; the other streams applied."""
    async with fs.connect("memory://") as store:
        await _poisoned(store)
        runner = ProjectionRunner(
            store, OrderViews(poison="order-1"), target, retry=RetryPolicy(1, 0.0)
        )
        await runner.catch_up()


async def test_parked_events_are_listed_shown_retried_and_skipped(
    redis_target: RedisTarget,  # noqa: F811
) -> None:
    url = _url(redis_target)
    views = OrderViews(poison="order-1")
    async with fs.connect("memory://") as store:
        await _poisoned(store)
        async with ProjectionRunner(
            store,
            views,
            redis_target,
            retry=RetryPolicy(attempts=1, first_delay=0),
            maintenance_interval=0.05,
        ) as runner:
            assert await runner.wait_for(await store.head_position(), timeout=10)

            code, listed = await _cli("dlq", "list", "order_views", "-t", url)
            assert code == 0, listed
            assert "order-1" in listed
            assert "WRONGTYPE" in listed
            code, one = await _cli("dlq", "list", "order_views", "-t", url, "--stream", "order-1")
            assert code == 0, one
            assert "waits behind an earlier event" in one  # the two ItemAdded behind it

            code, shown = await _cli("dlq", "show", "order_views", "2", "-t", url)
            assert code == 0, shown
            document = json.loads(shown)
            assert (document["stream_id"], document["type"], document["attempts"]) == (
                "order-1",
                "OrderCreated",
                1,
            )
            assert (await _cli("dlq", "show", "order_views", "999", "-t", url))[0] == 1
            assert (await _cli("dlq", "skip", "order_views", "999", "-t", url))[0] == 1
            assert (await _cli("dlq", "retry", "order_views", "nobody", "-t", url))[1].startswith(
                "0 parked"
            )

            views.poison = None  # the handler is fixed
            code, retried = await _cli("dlq", "retry", "order_views", "order-1", "-t", url)
            assert code == 0, retried
            assert retried.startswith("3 parked event(s) marked"), retried
            async with DeadLetters(redis_target, "order_views") as letters:
                for _ in range(200):
                    if not await letters.streams():
                        break
                    await asyncio.sleep(0.05)
                assert await letters.streams() == []

            client = await redis_target.connect()
            try:
                order = await client.hgetall(redis_target.key("order_views", "order:order-1"))
                assert order == {"customer": "c1", "total": "11"}  # replayed in order, once
            finally:
                await client.aclose()


async def test_a_skipped_event_is_gone_and_the_rest_of_its_stream_stays_parked(
    redis_target: RedisTarget,  # noqa: F811
) -> None:
    url = _url(redis_target)
    await _parked(redis_target)
    code, skipped = await _cli("dlq", "skip", "order_views", "2", "-t", url)
    assert code == 0, skipped
    async with DeadLetters(redis_target, "order_views") as letters:
        assert [x.position for x in await letters.list("order-1")] == [4, 5]
        streams = await letters.streams()
        assert [(s.stream_id, s.count, s.first_position) for s in streams] == [("order-1", 2, 4)]
        assert await letters.retry_all() == 2
        assert all(x.retry_requested for x in await letters.list())


async def test_status_shows_redis_projections_and_their_runners(
    redis_target: RedisTarget,  # noqa: F811
) -> None:
    url = _url(redis_target)
    async with fs.connect("memory://") as store:
        await _poisoned(store)
        async with ProjectionRunner(
            store,
            OrderViews(poison="order-1"),
            redis_target,
            retry=RetryPolicy(1, 0.0),
            heartbeat_interval=0.2,
        ) as runner:
            assert await runner.wait_for(6, timeout=10)
            [status] = await projection_status(redis_target, head=6)
            assert (status.name, status.generation, status.position, status.lag) == (
                "order_views",
                1,
                6,
                0,
            )
            assert status.parked == 3
            assert [r.state for r in status.runners] == ["running"]
            assert status.runners[0].runner_id == runner.runner_id
            code, shown = await _cli("projections", "status", "-t", url)
            assert code == 0, shown
            assert "order_views" in shown
            assert "running" in shown
        [status] = await projection_status(redis_target, include_stopped=True)
        assert [r.state for r in status.runners] == ["stopped"]
        assert (await projection_status(redis_target))[0].runners == ()


async def test_status_reports_a_redis_runner_that_stopped_beating_as_dead(
    redis_target: RedisTarget,  # noqa: F811
) -> None:
    url = _url(redis_target)
    async with fs.connect("memory://") as store:
        await _poisoned(store)
        await ProjectionRunner(store, OrderViews(), redis_target).catch_up()
    beat = RedisHeartbeat(
        redis_target, "ghost", "order_views", 0.05, lambda: (1, 3, frozenset({0}), 0.0)
    )
    await beat.start()
    assert beat._task is not None
    beat._task.cancel()  # as if its process were killed: no more beats, no "stopped"
    await asyncio.sleep(0.3)
    [status] = await projection_status(redis_target, head=6, stuck_after=60)
    assert [(r.runner_id, r.state, r.position) for r in status.runners] == [("ghost", "dead", 3)]
    code, shown = await _cli("projections", "status", "-t", url)
    assert code == 1, shown
    assert "dead" in shown
    session = beat._session
    beat._session = None
    await session.aclose()


async def test_status_of_an_empty_redis_prefix_is_empty() -> None:
    require("Redis", "127.0.0.1", 6379)
    target = RedisTarget(REDIS_URL, f"fstest:{uuid.uuid4().hex[:12]}:")
    assert await projection_status(target) == []


async def test_a_retry_mark_never_brings_back_an_event_the_runner_applied(
    redis_target: RedisTarget,  # noqa: F811
) -> None:
    await _parked(redis_target)
    letters = await RedisLetters.open(redis_target, "order_views")
    try:
        seen = await letters.list("order-1", 100)  # what `dlq retry` decided to mark ...
        key = redis_target.key("order_views", "_fs:dead_letters")
        await letters._client.hdel(key, "2")  # ... when the runner applied position 2 meanwhile
        assert await letters._mark(seen) == 2
        assert sorted(await letters._client.hkeys(key)) == ["4", "5"]
        assert all(x.retry_requested for x in await letters.list(None, 100))
    finally:
        await letters.close()


async def test_dead_letters_outside_async_with_are_refused(
    redis_target: RedisTarget,  # noqa: F811
) -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await DeadLetters(redis_target, "order_views").streams()
