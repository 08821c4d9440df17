"""``GET /events?from=POSITION``: the global log as a live Server-Sent Events feed.

Each event is one SSE message: ``id`` is its global position, ``data`` the recorded event as
JSON. A client that reconnects sends ``Last-Event-ID`` (browsers' ``EventSource`` do this by
themselves) and the feed resumes right after it, so nothing is lost or repeated. Without
``from`` or ``Last-Event-ID`` the feed starts at the head: only new events.

Backpressure: a reader task moves events from a store subscription (which pulls pages as they
are consumed) into a small bounded queue; the response waits for the ASGI server to accept each
message, so a slow client fills its queue and then stalls its own subscription, never the heap.
When the client goes away the response is cancelled, which cancels the reader and closes the
subscription. Idle feeds send a keep-alive comment every ``sse_keepalive`` seconds.
"""

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from litestar import get
from litestar.handlers import HTTPRouteHandler
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Stream

from ..events import RecordedEvent
from ..store.base import EventStore
from .problems import Problem
from .settings import HttpSettings

__all__ = ["Feeds", "feed_route", "frames", "start_position"]

_log = logging.getLogger("factstream.http")
_END = None
_RETRY_MS = 2000
_encode = msgspec.json.Encoder().encode


class Feeds:
    """The open live feeds of one app, so that shutdown can end them."""

    def __init__(self) -> None:
        self._queues: weakref.WeakSet[asyncio.Queue[RecordedEvent | None]] = weakref.WeakSet()

    @property
    def open(self) -> int:
        return len(self._queues)

    def add(self, queue: asyncio.Queue[RecordedEvent | None]) -> None:
        self._queues.add(queue)

    def discard(self, queue: asyncio.Queue[RecordedEvent | None]) -> None:
        self._queues.discard(queue)

    def stop_all(self) -> None:
        """End every open feed after the message it is sending."""
        for queue in list(self._queues):
            # No await between draining and putting: the reader cannot refill in between.
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(_END)


def start_position(from_position: int | None, last_event_id: str | None, head: int) -> int:
    """Where a feed starts: after ``Last-Event-ID``, else at ``from``, else after the head."""
    if last_event_id is not None:
        text = last_event_id.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 19:
            raise Problem(
                f"Last-Event-ID must be a position (an integer), got {last_event_id[:40]!r}",
                status=400,
                kind="invalid-last-event-id",
            )
        return int(text) + 1
    if from_position is not None:
        return from_position
    return head + 1


def _message(event: RecordedEvent) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (event.position, _encode(event))


def frames(
    store: EventStore,
    start: int,
    stream_id: str | None,
    settings: HttpSettings,
    feeds: Feeds,
) -> AsyncIterator[bytes]:
    """The SSE byte frames of a feed from ``start``; registered with ``feeds`` at once, so a
    shutdown ends it even before it starts."""
    queue: asyncio.Queue[RecordedEvent | None] = asyncio.Queue(maxsize=settings.sse_buffer)
    feeds.add(queue)
    return _frames(store, start, stream_id, settings, feeds, queue)


async def _frames(
    store: EventStore,
    start: int,
    stream_id: str | None,
    settings: HttpSettings,
    feeds: Feeds,
    queue: asyncio.Queue[RecordedEvent | None],
) -> AsyncIterator[bytes]:
    async def pump() -> None:
        try:
            async with store.subscribe(start, stream_id) as subscription:
                async for event in subscription:
                    await queue.put(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store failed: end the feed, the client reconnects
            _log.warning("live feed ended by %s", type(exc).__name__, exc_info=exc)
        await queue.put(_END)

    reader = asyncio.create_task(pump(), name=f"factstream-sse-{start}")
    try:
        yield b"retry: %d\n: live feed from position %d\n\n" % (_RETRY_MS, start)
        while True:
            try:
                async with asyncio.timeout(settings.sse_keepalive):
                    event = await queue.get()
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if event is _END:
                return
            yield _message(event)
    finally:
        # Cancelled here when the client disconnects: stop reading, drop the subscription.
        reader.cancel()
        feeds.discard(queue)


def feed_route(store: EventStore, settings: HttpSettings, feeds: Feeds) -> HTTPRouteHandler:
    @get(
        "/events",
        tags=["live"],
        summary="The global log as a live Server-Sent Events feed",
        description=(
            "Each message's id is the event's global position and its data the recorded event "
            "as JSON. Reconnect with Last-Event-ID to resume after the last event received."
        ),
        media_type="text/event-stream",
    )
    async def feed(
        from_position: Annotated[
            int | None,
            QueryParameter(name="from", ge=1, le=2**62, description="First position to send."),
        ] = None,
        stream: Annotated[
            str | None,
            QueryParameter(min_length=1, max_length=255, description="Only this stream."),
        ] = None,
        last_event_id: Annotated[
            str | None, HeaderParameter(name="last-event-id", description="Resume after this id.")
        ] = None,
    ) -> Stream:
        head = await store.head_position()
        start = start_position(from_position, last_event_id, head)
        return Stream(
            frames(store, start, stream, settings, feeds),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return feed
