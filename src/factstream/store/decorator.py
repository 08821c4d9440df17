"""A base for decorators that add a concern (metrics, tracing) around any event store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Self

from ..events import ANY, AppendResult, ExpectedVersion, NewEvent, RecordedEvent
from .base import EventStore
from .catalog import StreamInfo
from .subscription import Subscription

__all__ = ["StoreDecorator"]


class StoreDecorator:
    """Delegates every call of the :class:`EventStore` port to ``inner``.

    Subclasses override the calls they observe, e.g. Eventuous's ``TracedEventStore(inner)``.
    Decorators stack: ``TracingEventStore(InstrumentedEventStore(store, metrics))``.
    """

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        return await self.inner.append(stream_id, events, expected_version)

    async def read(
        self,
        stream_id: str,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
    ) -> list[RecordedEvent]:
        return await self.inner.read(stream_id, from_version, limit, backwards)

    def read_all(
        self, from_position: int = 1, limit: int | None = None
    ) -> AsyncIterator[RecordedEvent]:
        return self.inner.read_all(from_position, limit)

    def subscribe(self, from_position: int = 1, stream_id: str | None = None) -> Subscription:
        return self.inner.subscribe(from_position, stream_id)

    async def stream_version(self, stream_id: str) -> int:
        return await self.inner.stream_version(stream_id)

    async def head_position(self) -> int:
        return await self.inner.head_position()

    async def list_streams(
        self, prefix: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[StreamInfo]:
        return await self.inner.list_streams(prefix, after, limit)

    async def event_at(self, position: int) -> RecordedEvent | None:
        return await self.inner.event_at(position)

    async def event_by_id(self, event_id: uuid.UUID) -> RecordedEvent | None:
        return await self.inner.event_by_id(event_id)

    async def events_by_correlation(
        self, correlation_id: str, from_position: int = 1, limit: int = 100
    ) -> list[RecordedEvent]:
        return await self.inner.events_by_correlation(correlation_id, from_position, limit)

    async def events_by_causation(
        self, causation_id: str, from_position: int = 1, limit: int = 100
    ) -> list[RecordedEvent]:
        return await self.inner.events_by_causation(causation_id, from_position, limit)

    @property
    def closed(self) -> bool:
        """Whether the store underneath is closed (False if it cannot tell)."""
        return bool(getattr(self.inner, "closed", False))

    async def close(self) -> None:
        await self.inner.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
