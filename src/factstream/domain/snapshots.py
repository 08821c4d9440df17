"""Snapshots of aggregate state and the small port that stores them.

A snapshot is an optimisation, never the truth: one that is missing, undecodable or of another
schema version is ignored and the aggregate is replayed from its events.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol, runtime_checkable

import msgspec

from ..events import ANY, NewEvent
from ..store import EventStore

__all__ = ["EventStoreSnapshotStore", "MemorySnapshotStore", "Snapshot", "SnapshotStore"]

SNAPSHOT_EVENT_TYPE = "factstream.snapshot"


class Snapshot(msgspec.Struct, frozen=True):
    """The state of one aggregate at one version.

    Attributes:
        stream_id: the aggregate's stream.
        version: the stream version the state includes (events 1 to ``version``).
        schema_version: the aggregate class's ``snapshot_version`` when it was taken.
        state: the aggregate's :meth:`~factstream.Aggregate.snapshot_state`.
        timestamp: when the last included event was recorded (for loads as of a time).
    """

    stream_id: str
    version: int
    schema_version: int
    state: dict[str, Any]
    timestamp: dt.datetime


@runtime_checkable
class SnapshotStore(Protocol):
    """Where snapshots are kept: only the latest one per stream matters."""

    async def load(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of ``stream_id``, or ``None``."""
        ...

    async def save(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` as the latest of its stream."""
        ...


class MemorySnapshotStore:
    """Snapshots in a dict, for tests and single-process use."""

    def __init__(self) -> None:
        self._latest: dict[str, Snapshot] = {}

    async def load(self, stream_id: str) -> Snapshot | None:
        return self._latest.get(stream_id)

    async def save(self, snapshot: Snapshot) -> None:
        current = self._latest.get(snapshot.stream_id)
        if current is None or current.version <= snapshot.version:
            self._latest[snapshot.stream_id] = snapshot


class _Payload(msgspec.Struct, frozen=True):
    version: int
    state: dict[str, Any]
    timestamp: dt.datetime


class EventStoreSnapshotStore:
    """Snapshots as events in a ``snapshot-<stream>`` stream of the event store itself.

    Works on every backend with no extra table. The latest snapshot is read backwards with
    ``limit=1``. Projections and relays see these events under the type
    ``"factstream.snapshot"``; filter the ``prefix`` out where they are not wanted.
    """

    def __init__(self, store: EventStore, prefix: str = "snapshot-") -> None:
        self.store = store
        self.prefix = prefix

    def stream_of(self, stream_id: str) -> str:
        return f"{self.prefix}{stream_id}"

    async def load(self, stream_id: str) -> Snapshot | None:
        found = await self.store.read(self.stream_of(stream_id), limit=1, backwards=True)
        if not found or found[0].type != SNAPSHOT_EVENT_TYPE:
            return None
        try:
            payload = msgspec.convert(found[0].data, _Payload)
        except msgspec.ValidationError:
            return None
        return Snapshot(
            stream_id, payload.version, found[0].schema_version, payload.state, payload.timestamp
        )

    async def save(self, snapshot: Snapshot) -> None:
        data = msgspec.to_builtins(_Payload(snapshot.version, snapshot.state, snapshot.timestamp))
        event = NewEvent(SNAPSHOT_EVENT_TYPE, data, schema_version=snapshot.schema_version)
        await self.store.append(self.stream_of(snapshot.stream_id), [event], ANY)
