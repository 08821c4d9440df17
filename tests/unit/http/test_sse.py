"""The live feed: events in order, live ones after stored ones, resume with Last-Event-ID,
stream filter, disconnects and shutdown release the subscription."""

from __future__ import annotations

import asyncio

import factstream as fs
from factstream.http import HttpSettings

from .conftest import AppFactory
from .support import SseStream


async def _append(store: fs.EventStore, stream: str, count: int) -> None:
    for n in range(count):
        await store.append(stream, [fs.NewEvent("Tick", {"n": n})])


async def test_the_feed_delivers_stored_then_live_events_in_order(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    await _append(store, "a", 3)
    app = make_app()
    async with app.lifespan(), SseStream(app, "/events?from=2") as feed:
        assert feed.status == 200
        assert feed.headers["content-type"].startswith("text/event-stream")
        assert [e["position"] for e in await feed.events(2)] == [2, 3]
        writer = asyncio.create_task(_append(store, "b", 20))
        live = await feed.events(20)
        await writer
        assert [e["position"] for e in live] == list(range(4, 24))
        assert [e["data"]["n"] for e in live] == list(range(20))
        assert live[0]["stream_id"] == "b"


async def test_without_from_the_feed_starts_at_the_head(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    await _append(store, "old", 5)
    app = make_app()
    async with app.lifespan(), SseStream(app, "/events") as feed:
        await store.append("new", [fs.NewEvent("Fresh", {})])
        [event] = await feed.events(1)
        assert (event["position"], event["type"]) == (6, "Fresh")


async def test_last_event_id_resumes_right_after_it(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    await _append(store, "a", 10)
    app = make_app()
    async with app.lifespan():
        async with SseStream(app, "/events?from=1") as feed:
            first = await feed.events(4)
        last_id = str(first[-1]["position"])
        # A browser reconnects to the same URL and adds Last-Event-ID, which wins over ?from.
        async with SseStream(app, "/events?from=1", {"Last-Event-ID": last_id}) as feed:
            resumed = await feed.events(6)
    assert [e["position"] for e in first + resumed] == list(range(1, 11))


async def test_a_stream_filter_delivers_only_that_stream(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    for n in range(6):
        await store.append("even" if n % 2 == 0 else "odd", [fs.NewEvent("T", {"n": n})])
    app = make_app()
    async with app.lifespan(), SseStream(app, "/events?from=1&stream=odd") as feed:
        assert [e["data"]["n"] for e in await feed.events(3)] == [1, 3, 5]


async def test_bad_resume_points_are_400_problems(make_app: AppFactory) -> None:
    app = make_app()
    async with app.lifespan():
        async with SseStream(app, "/events", {"Last-Event-ID": "x1"}) as feed:
            assert feed.status == 400
            assert b"invalid-last-event-id" in await feed.body()
        async with SseStream(app, "/events?from=0") as feed:
            assert feed.status == 400


async def test_a_disconnect_ends_the_subscription(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    await _append(store, "a", 2)
    app = make_app()
    async with app.lifespan():
        feed = SseStream(app, "/events?from=1")
        async with feed:
            await feed.events(2)
            assert app.state.feeds.open == 1
        # The response task has finished; the reader task was cancelled with it.
        assert app.state.feeds.open == 0
        await _append(store, "a", 1)  # nothing is left to deliver it to


async def test_a_slow_client_holds_a_bounded_buffer(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    app = make_app(HttpSettings(sse_buffer=4))
    async with app.lifespan(), SseStream(app, "/events?from=1", buffer=1) as feed:
        await _append(store, "a", 200)
        # The client reads nothing: its network buffer fills, the server's send waits, the
        # feed's queue fills to its bound and the subscription stops reading.
        [queue] = list(app.state.feeds._queues)
        for _ in range(10_000):  # until full (the test timeout bounds it)
            if queue.full():
                break
            await asyncio.sleep(0.01)
        for _ in range(50):
            await asyncio.sleep(0)
        assert queue.qsize() == 4
        got = await feed.events(200)
        assert [e["position"] for e in got] == list(range(1, 201))


async def test_idle_feeds_send_keepalive_comments(make_app: AppFactory) -> None:
    app = make_app(HttpSettings(sse_keepalive=0.01))
    async with app.lifespan(), SseStream(app, "/events") as feed:
        seen = b""
        while b": keep-alive" not in seen:
            chunk = await feed._chunks.get()
            assert chunk is not None
            seen += chunk


async def test_shutdown_ends_open_feeds(store: fs.EventStore, make_app: AppFactory) -> None:
    app = make_app()
    feed = SseStream(app, "/events?from=1")
    async with app.lifespan():
        await feed.__aenter__()
    assert await feed.message() is None  # the response ended
    await feed.disconnect()


async def test_closing_the_store_ends_the_feed(tmp_path: object, make_app: AppFactory) -> None:
    memory = await fs.connect("memory://")
    from factstream.http import create_app

    app = create_app(HttpSettings(), memory)
    async with app.lifespan(), SseStream(app, "/events?from=1") as feed:
        await memory.close()
        assert await feed.message() is None
