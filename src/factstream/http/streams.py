"""Reading the log over HTTP: streams, single events, pages of the global log.

``GET /streams`` lists streams, ``GET /streams/{stream_id}`` reads one stream,
``GET /events/{position}`` one event, ``GET /events/{position}/related`` the events linked to it
by causation and correlation, ``GET /events/by-id/{event_id}`` finds one by id, and ``GET /log``
pages through the global log.
These read the log itself, so they are always current: a ``Consistency-Token`` needs no wait.
"""

import uuid
from typing import Annotated

import msgspec
from litestar import get
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter, QueryParameter

from .. import __version__
from ..events import RecordedEvent
from ..store.base import EventStore
from ..store.catalog import StreamInfo
from .problems import NotFound
from .related import Related, find_related
from .settings import HttpSettings

__all__ = ["Info", "LogPage", "StreamEvents", "StreamPage", "stream_routes"]


class StreamPage(msgspec.Struct, frozen=True):
    streams: list[StreamInfo]
    next_after: str | None


class StreamEvents(msgspec.Struct, frozen=True):
    stream_id: str
    version: int
    events: list[RecordedEvent]
    next_version: int | None


class LogPage(msgspec.Struct, frozen=True):
    head_position: int
    events: list[RecordedEvent]
    next_position: int | None


class Info(msgspec.Struct, frozen=True):
    title: str
    version: str
    head_position: int
    features: dict[str, bool]


def stream_routes(
    store: EventStore,
    settings: HttpSettings,
    features: dict[str, bool],
) -> list[HTTPRouteHandler]:
    """The route handlers reading the log."""
    max_page = settings.max_page
    Limit = Annotated[int, QueryParameter(ge=1, le=max_page, description="Page size.")]
    Position = Annotated[int, PathParameter(ge=1, le=2**62)]

    @get("/info", tags=["log"], summary="The server, the head of the log, enabled features")
    async def info() -> Info:
        return Info(
            title=settings.title,
            version=__version__,
            head_position=await store.head_position(),
            features=features,
        )

    @get("/streams", tags=["log"], summary="Streams in id order (keyset pagination)")
    async def list_streams(
        after: Annotated[str | None, QueryParameter(max_length=255)] = None,
        prefix: Annotated[str | None, QueryParameter(max_length=255)] = None,
        limit: Limit = 100,
    ) -> StreamPage:
        streams = await store.list_streams(prefix, after, limit)
        next_after = streams[-1].stream_id if len(streams) == limit else None
        return StreamPage(streams=streams, next_after=next_after)

    @get(
        "/streams/{stream_id:path}",
        tags=["log"],
        summary="One stream's events, forwards or backwards",
    )
    async def read_stream(
        stream_id: Annotated[str, PathParameter()],
        from_version: Annotated[int | None, QueryParameter(ge=1, le=2**62)] = None,
        limit: Limit = 100,
        backwards: Annotated[bool, QueryParameter()] = False,
    ) -> StreamEvents:
        stream_id = stream_id.removeprefix("/")
        events = await store.read(stream_id, from_version, limit, backwards)  # checks the id
        version = await store.stream_version(stream_id)
        if version == 0:
            raise NotFound(f"there is no stream {stream_id!r}", stream_id=stream_id)
        next_version = None
        if len(events) == limit:
            edge = events[-1].version
            next_version = edge - 1 if backwards else edge + 1
            if next_version < 1 or next_version > version:
                next_version = None
        return StreamEvents(
            stream_id=stream_id, version=version, events=events, next_version=next_version
        )

    async def _event_at(position: int) -> RecordedEvent:
        event = await store.event_at(position)
        if event is not None:
            return event
        raise NotFound(f"there is no event at position {position}", position=position)

    @get("/events/{position:int}", tags=["log"], summary="The event at a global position")
    async def event_at(position: Position) -> RecordedEvent:
        return await _event_at(position)

    @get(
        "/events/{position:int}/related",
        tags=["log"],
        summary="An event with its cause, its consequences and its correlated events",
    )
    async def related(position: Position) -> Related:
        event = await _event_at(position)
        return await find_related(store, event, settings.related_limit)

    @get("/events/by-id/{event_id:uuid}", tags=["log"], summary="The event with an id")
    async def event_by_id(event_id: Annotated[uuid.UUID, PathParameter()]) -> RecordedEvent:
        event = await store.event_by_id(event_id)
        if event is None:
            raise NotFound(f"there is no event with id {event_id}", event_id=str(event_id))
        return event

    @get("/log", tags=["log"], summary="A page of the global log, forwards from a position")
    async def log_page(
        from_position: Annotated[int | None, QueryParameter(name="from", ge=1, le=2**62)] = None,
        limit: Limit = 50,
    ) -> LogPage:
        head = await store.head_position()
        start = from_position if from_position is not None else max(1, head - limit + 1)
        events = [event async for event in store.read_all(start, limit=limit)]
        next_position = events[-1].position + 1 if len(events) == limit else None
        return LogPage(head_position=head, events=events, next_position=next_position)

    return [info, list_streams, read_stream, event_at, related, event_by_id, log_page]
