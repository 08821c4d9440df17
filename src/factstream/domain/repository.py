"""The repository: load aggregates by replaying their stream, save them with optimistic
concurrency, and keep snapshots every N events."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from ..events import NO_STREAM, AppendResult, InvalidEvent, RecordedEvent
from ..schema import EventRegistry, OnUnknown
from ..store import EventStore
from .aggregate import Aggregate
from .errors import AggregateNotFound
from .snapshots import EventStoreSnapshotStore, Snapshot, SnapshotStore

__all__ = ["Repository"]

A = TypeVar("A", bound=Aggregate)

log = logging.getLogger("factstream.domain.repository")


class Repository(Generic[A]):
    """Loads and saves aggregates of one type.

    Args:
        store: the event store.
        registry: decodes and encodes the aggregate's events.
        aggregate_type: the :class:`Aggregate` subclass; it must have a ``category``.
        snapshot_every: take a snapshot each time the stream crosses a multiple of this many
            events (``None``: never).
        snapshot_store: where snapshots go; by default, ``snapshot-<stream>`` streams in
            ``store`` (:class:`EventStoreSnapshotStore`).
        on_unknown: what replay does with events of unregistered types (default: raise).
        page_size: how many events one read fetches while replaying.

    Raises:
        ValueError: the aggregate type has no category, or an argument is out of range.
    """

    def __init__(
        self,
        store: EventStore,
        registry: EventRegistry,
        aggregate_type: type[A],
        *,
        snapshot_every: int | None = None,
        snapshot_store: SnapshotStore | None = None,
        on_unknown: OnUnknown = "raise",
        page_size: int = 1000,
    ) -> None:
        if not aggregate_type.category:
            raise ValueError(
                f"{aggregate_type.__name__} has no stream category: declare it with "
                f"class {aggregate_type.__name__}(Aggregate, category='...')"
            )
        if snapshot_every is not None and snapshot_every < 1:
            raise ValueError(f"snapshot_every must be >= 1 or None, got {snapshot_every}")
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        self.store = store
        self.registry = registry
        self.aggregate_type = aggregate_type
        self.snapshot_every = snapshot_every
        if snapshot_every is not None and snapshot_store is None:
            snapshot_store = EventStoreSnapshotStore(store)
        self.snapshot_store = snapshot_store
        self.on_unknown: OnUnknown = on_unknown
        self.page_size = page_size

    def stream_id(self, aggregate_id: str) -> str:
        """The stream of the aggregate with ``aggregate_id``: ``"<category>-<id>"``."""
        return f"{self.aggregate_type.category}-{aggregate_id}"

    # -- loading --------------------------------------------------------------------------

    async def load(
        self,
        aggregate_id: str,
        *,
        version: int | None = None,
        as_of: dt.datetime | None = None,
    ) -> A:
        """The aggregate's current state, or its state as of a stream version or a time.

        Args:
            aggregate_id: the aggregate's id.
            version: replay only events 1 to ``version`` (temporal load).
            as_of: replay only events recorded at or before this aware datetime.

        Raises:
            AggregateNotFound: the stream has no events (before ``version`` / ``as_of``).
            UnknownEventType, EventValidationError, UpcastError: an event cannot be decoded.
        """
        found = await self.get(aggregate_id, version=version, as_of=as_of)
        if found is None:
            raise AggregateNotFound(
                self.aggregate_type.__name__, aggregate_id, self.stream_id(aggregate_id)
            )
        return found

    async def get(
        self,
        aggregate_id: str,
        *,
        version: int | None = None,
        as_of: dt.datetime | None = None,
    ) -> A | None:
        """Like :meth:`load`, but ``None`` when the aggregate does not exist."""
        if version is not None and version < 1:
            raise InvalidEvent(f"version must be >= 1, got {version}")
        if as_of is not None and as_of.tzinfo is None:
            raise InvalidEvent("as_of must be a timezone-aware datetime")
        stream = self.stream_id(aggregate_id)
        aggregate = await self._from_snapshot(aggregate_id, stream, version, as_of)
        start = aggregate.version + 1
        decode_each = self.registry.decode_each
        on_unknown = self.on_unknown
        while True:
            limit = self.page_size
            if version is not None:
                limit = min(limit, version - start + 1)
                if limit < 1:
                    break
            page = await self.store.read(stream, from_version=start, limit=limit)
            if as_of is not None:
                page = _until(page, as_of)
            aggregate._stored_each(
                decode_each(page, on_unknown), [recorded.version for recorded in page]
            )
            if len(page) < limit:
                break
            start = page[-1].version + 1
        return aggregate if aggregate.version > 0 else None

    async def _from_snapshot(
        self, aggregate_id: str, stream: str, version: int | None, as_of: dt.datetime | None
    ) -> A:
        fresh = self.aggregate_type(aggregate_id)
        if self.snapshot_store is None:
            return fresh
        snapshot = await self.snapshot_store.load(stream)
        if (
            snapshot is None
            or snapshot.schema_version != self.aggregate_type.snapshot_version
            or (version is not None and snapshot.version > version)
            or (as_of is not None and snapshot.timestamp > as_of)
        ):
            return fresh
        restored = self.aggregate_type(aggregate_id)
        try:
            restored.restore_state(snapshot.state)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning(
                "ignoring the snapshot of %s at version %d: %s", stream, snapshot.version, exc
            )
            return fresh
        restored._committed(snapshot.version)
        return restored

    # -- saving ---------------------------------------------------------------------------

    async def save(
        self,
        aggregate: A,
        *,
        correlation_id: str | uuid.UUID | None = None,
        causation_id: str | uuid.UUID | None = None,
        metadata: Mapping[str, Any] | None = None,
        event_ids: Sequence[uuid.UUID] | None = None,
    ) -> AppendResult | None:
        """Append the aggregate's uncommitted events, expecting the version it was loaded at.

        Args:
            aggregate: the aggregate to save.
            correlation_id, causation_id, metadata: stored with each event.
            event_ids: ids for the events (one each), e.g. derived from a command id so that
                saving the same decision twice stores it once.

        Returns:
            The append's result, or ``None`` when there was nothing to save.

        Raises:
            WrongExpectedVersion: the stream moved since the aggregate was loaded.
            DuplicateEventId: an id in ``event_ids`` is stored already, differently.
        """
        if not isinstance(aggregate, self.aggregate_type):
            raise TypeError(
                f"this repository saves {self.aggregate_type.__name__}, "
                f"not {type(aggregate).__name__}"
            )
        pending = aggregate.uncommitted_events
        if not pending:
            return None
        if event_ids is not None and len(event_ids) != len(pending):
            raise ValueError(f"{len(event_ids)} event ids for {len(pending)} events")
        meta = dict(metadata) if metadata else None
        to_new_event = self.registry.to_new_event
        batch = [
            to_new_event(
                event,
                id=None if event_ids is None else event_ids[index],
                metadata=meta,
                correlation_id=correlation_id,
                causation_id=causation_id,
            )
            for index, event in enumerate(pending)
        ]
        stream = self.stream_id(aggregate.id)
        expected = aggregate.committed_version or NO_STREAM
        result = await self.store.append(stream, batch, expected)
        aggregate._committed(result.version)
        every = self.snapshot_every
        if every is not None and result.version // every > expected // every:
            await self._snapshot(aggregate, stream, result.version)
        return result

    async def _snapshot(self, aggregate: A, stream: str, version: int) -> None:
        assert self.snapshot_store is not None
        # The snapshot is an optimisation: the events are stored, so a failure here is logged,
        # never raised to the caller.
        try:
            last = await self.store.read(stream, from_version=version, limit=1)
            snapshot = Snapshot(
                stream,
                version,
                self.aggregate_type.snapshot_version,
                aggregate.snapshot_state(),
                last[0].timestamp,
            )
            await self.snapshot_store.save(snapshot)
        except Exception:
            log.warning("could not snapshot %s at version %d", stream, version, exc_info=True)


def _until(page: list[RecordedEvent], as_of: dt.datetime) -> list[RecordedEvent]:
    for index, recorded in enumerate(page):
        if recorded.timestamp > as_of:
            return page[:index]
    return page
