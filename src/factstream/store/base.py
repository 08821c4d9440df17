"""The event store port and the behaviour every backend shares."""

from __future__ import annotations

import abc
import uuid
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Literal, Protocol, Self, runtime_checkable

from ..events import (
    ANY,
    AppendResult,
    ExpectedVersion,
    InvalidEvent,
    NewEvent,
    RecordedEvent,
    StoreClosed,
)
from .catalog import StreamInfo, check_event_id, check_link, check_listing
from .encoding import EncodedEvent, check_expected_version, check_stream_id, encode_batch
from .limits import StoreLimits
from .notifier import HeadNotifier
from .subscription import Subscription

__all__ = ["EventStore", "Link", "StoreBase"]

Link = Literal["correlation", "causation"]
_MAX_POSITION = 2**63 - 1  # the largest position a database column holds


@runtime_checkable
class EventStore(Protocol):
    """The event store port. Every backend (memory, SQLite, PostgreSQL) implements it."""

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        """Append ``events`` to ``stream_id`` atomically.

        Raises:
            WrongExpectedVersion: the stream is not at ``expected_version``; nothing stored.
            DuplicateEventId: an event id is stored elsewhere or with other content.
            InvalidEvent: bad input; nothing stored.
        """
        ...

    async def read(
        self,
        stream_id: str,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
    ) -> list[RecordedEvent]:
        """Read a stream forwards from ``from_version`` (default 1) or backwards from it
        (default: the newest event). A stream that does not exist reads as ``[]``."""
        ...

    def read_all(
        self, from_position: int = 1, limit: int | None = None
    ) -> AsyncIterator[RecordedEvent]:
        """Iterate over the global log from ``from_position`` in position order."""
        ...

    def subscribe(self, from_position: int = 1, stream_id: str | None = None) -> Subscription:
        """Catch up from ``from_position``, then follow new events live."""
        ...

    async def stream_version(self, stream_id: str) -> int:
        """The stream's current version (0 when it has no events)."""
        ...

    async def head_position(self) -> int:
        """The position of the newest committed event (0 for an empty store)."""
        ...

    async def list_streams(
        self, prefix: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[StreamInfo]:
        """Up to ``limit`` streams whose id starts with ``prefix`` and sorts after ``after``,
        in id order (code point order): page on with the last id as ``after``."""
        ...

    async def event_at(self, position: int) -> RecordedEvent | None:
        """The event at a global position, or None when there is none (yet)."""
        ...

    async def event_by_id(self, event_id: uuid.UUID) -> RecordedEvent | None:
        """The event with this id, or None."""
        ...

    async def events_by_correlation(
        self, correlation_id: str, from_position: int = 1, limit: int = 100
    ) -> list[RecordedEvent]:
        """Up to ``limit`` events with this correlation id from ``from_position``, in
        position order."""
        ...

    async def events_by_causation(
        self, causation_id: str, from_position: int = 1, limit: int = 100
    ) -> list[RecordedEvent]:
        """Up to ``limit`` events whose causation id is ``causation_id`` (the events an event
        caused: pass its id as a string) from ``from_position``, in position order."""
        ...

    async def close(self) -> None:
        """Release connections and threads; pending subscriptions end."""
        ...


class StoreBase(abc.ABC):
    """Input checking, paging and subscriptions on top of a few backend primitives."""

    #: How long an idle subscriber sleeps before looking again without a wake-up. Backends
    #: that can be written by other processes lower it or run a watcher.
    poll_interval: float | None = None
    read_page_size: int = 1000

    def __init__(self, limits: StoreLimits | None = None) -> None:
        self.limits = limits or StoreLimits()
        self._notifier = HeadNotifier()
        self._closed = False

    # -- the port -------------------------------------------------------------------------

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        self._check_open()
        check_stream_id(stream_id, self.limits)
        expected = check_expected_version(expected_version)
        batch = encode_batch(events, self.limits)
        return await self._append(stream_id, batch, expected)

    async def read(
        self,
        stream_id: str,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
    ) -> list[RecordedEvent]:
        self._check_open()
        check_stream_id(stream_id, self.limits)
        if from_version is not None:
            _check_positive_int("from_version", from_version)
        if limit is not None:
            _check_positive_int("limit", limit, allow_zero=True)
            if limit == 0:
                return []
        return await self._read_stream(stream_id, from_version, limit, backwards)

    def read_all(
        self, from_position: int = 1, limit: int | None = None
    ) -> AsyncIterator[RecordedEvent]:
        self._check_open()
        _check_positive_int("from_position", from_position)
        if limit is not None:
            _check_positive_int("limit", limit, allow_zero=True)
        return self._iterate_all(from_position, limit)

    async def _iterate_all(self, position: int, limit: int | None) -> AsyncIterator[RecordedEvent]:
        # Pages end at the first short page, so a reader under constant writes still finishes.
        remaining = limit
        while remaining is None or remaining > 0:
            size = self.read_page_size if remaining is None else min(remaining, self.read_page_size)
            page = await self._read_all_page(position, size)
            for event in page:
                yield event
            if len(page) < size:
                return
            position = page[-1].position + 1
            if remaining is not None:
                remaining -= len(page)

    def subscribe(self, from_position: int = 1, stream_id: str | None = None) -> Subscription:
        self._check_open()
        _check_positive_int("from_position", from_position)
        if stream_id is not None:
            check_stream_id(stream_id, self.limits)
        return Subscription(self, from_position, stream_id)

    async def list_streams(
        self, prefix: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[StreamInfo]:
        self._check_open()
        checked = check_listing(prefix, after, limit, self.limits.max_stream_id_length)
        return await self._list_streams(*checked)

    async def event_at(self, position: int) -> RecordedEvent | None:
        self._check_open()
        _check_positive_int("position", position)
        if position > _MAX_POSITION:
            return None
        return await self._event_at(position)

    async def event_by_id(self, event_id: uuid.UUID) -> RecordedEvent | None:
        self._check_open()
        return await self._event_by_id(check_event_id(event_id))

    async def events_by_correlation(
        self, correlation_id: str, from_position: int = 1, limit: int = 100
    ) -> list[RecordedEvent]:
        self._check_open()
        limit = check_link("correlation_id", correlation_id, from_position, limit)
        if from_position > _MAX_POSITION:
            return []
        return await self._events_linked("correlation", correlation_id, from_position, limit)

    async def events_by_causation(
        self, causation_id: str, from_position: int = 1, limit: int = 100
    ) -> list[RecordedEvent]:
        self._check_open()
        limit = check_link("causation_id", causation_id, from_position, limit)
        if from_position > _MAX_POSITION:
            return []
        return await self._events_linked("causation", causation_id, from_position, limit)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._notifier.close()
        await self._close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- what backends provide ------------------------------------------------------------

    @abc.abstractmethod
    async def _append(
        self, stream_id: str, batch: list[EncodedEvent], expected: ExpectedVersion
    ) -> AppendResult:
        """Store a validated batch atomically, or raise; advance the notifier after commit."""

    @abc.abstractmethod
    async def _read_stream(
        self, stream_id: str, from_version: int | None, limit: int | None, backwards: bool
    ) -> list[RecordedEvent]: ...

    @abc.abstractmethod
    async def _read_all_page(self, from_position: int, limit: int) -> list[RecordedEvent]:
        """Up to ``limit`` committed events with position >= ``from_position``, in order.

        Must never return an event while an event with a lower position can still commit.
        """

    @abc.abstractmethod
    async def stream_version(self, stream_id: str) -> int: ...

    @abc.abstractmethod
    async def _list_streams(self, prefix: str, after: str, limit: int) -> list[StreamInfo]:
        """Streams with ids ``> after`` starting with ``prefix`` (``""``: no condition)."""

    @abc.abstractmethod
    async def _event_at(self, position: int) -> RecordedEvent | None: ...

    @abc.abstractmethod
    async def _event_by_id(self, event_id: uuid.UUID) -> RecordedEvent | None: ...

    @abc.abstractmethod
    async def _events_linked(
        self, link: Link, value: str, from_position: int, limit: int
    ) -> list[RecordedEvent]:
        """Events whose ``<link>_id`` is ``value``, from a position, in position order."""

    @abc.abstractmethod
    async def head_position(self) -> int: ...

    @abc.abstractmethod
    async def _close(self) -> None: ...

    def _subscription_started(self) -> None:
        """Hook: a subscription began waiting for live events (start watchers here)."""

    def _subscription_ended(self) -> None:
        """Hook: a subscription ended."""

    # -- helpers --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"{type(self).__name__} is closed")


def _check_positive_int(name: str, value: object, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise InvalidEvent(f"{name} must be an int >= {low}, got {value!r}")
