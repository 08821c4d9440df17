"""Where the streaming layer keeps its state: the relay's checkpoint, leases (one active relay,
one reader per partition), and each consumer group's applied versions per stream.

These live in the store's database (SQLite file, PostgreSQL schema) or in memory, behind three
small ports that one object per database implements.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Beat",
    "CheckpointStore",
    "HeartbeatStore",
    "LeaseStore",
    "StoredBeat",
    "StreamMark",
    "StreamingState",
    "VersionStore",
    "beat_from_row",
    "beat_values",
]


@dataclass(frozen=True, slots=True)
class StreamMark:
    """A consumer group's progress on one stream.

    Attributes:
        version: the last version applied (0: none).
        parked: the version from which the stream is parked in the dead letters, or ``None``.
    """

    version: int = 0
    parked: int | None = None


@runtime_checkable
class CheckpointStore(Protocol):
    async def load_checkpoint(self, name: str) -> int:
        """The last position saved under ``name`` (0 when none)."""
        ...

    async def save_checkpoint(self, name: str, position: int) -> None:
        """Save ``position`` under ``name`` (it may go back: a relay rewinds after a wipe)."""
        ...


@runtime_checkable
class LeaseStore(Protocol):
    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        """Take ``name`` for ``owner`` for ``ttl`` seconds, or extend it if ``owner`` holds it.

        Returns ``False`` while another owner holds an unexpired lease.
        """
        ...

    async def release_lease(self, name: str, owner: str) -> None:
        """Give ``name`` up if ``owner`` holds it."""
        ...

    async def lease_holders(self, prefix: str) -> dict[str, str]:
        """Unexpired leases whose name starts with ``prefix``: name -> owner."""
        ...


@runtime_checkable
class VersionStore(Protocol):
    async def load_marks(self, consumer: str, stream_ids: Collection[str]) -> dict[str, StreamMark]:
        """The marks of ``stream_ids`` that exist (a missing one means version 0, not parked)."""
        ...

    async def save_marks(self, consumer: str, marks: Mapping[str, StreamMark]) -> None:
        """Store marks in one transaction. A version never goes down; ``parked`` is set as given."""
        ...

    async def parked_streams(self, consumer: str) -> dict[str, StreamMark]:
        """Every parked stream of ``consumer``."""
        ...


@runtime_checkable
class StreamingState(CheckpointStore, LeaseStore, VersionStore, Protocol):
    """All three ports over one database."""

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Beat:
    """One heartbeat of a relay or a consumer-group member.

    Attributes:
        component: ``relay`` or ``consumer``.
        name: the relay's settings name, or the consumer group.
        member: the relay's owner id, or the member id.
        state: ``running``, ``stopped`` (left cleanly) or ``failed`` (ended by an error).
        active: the relay holds its lease / the member reads at least one partition.
        position: how far it got (relay: the acknowledged position; member: events handled).
        lag: events it was behind at the beat, as it saw them (``None``: not known).
        beat_every: seconds between beats; three missed beats make it dead.
        error: the last failure, as text.
    """

    component: str
    name: str
    member: str
    host: str
    pid: int
    state: str
    active: bool
    position: int
    lag: int | None
    beat_every: float
    error: str | None = None


def beat_values(beat: Beat) -> tuple[Any, ...]:
    """The fields of ``beat`` in their column order (``component`` ... ``error``)."""
    return (
        beat.component,
        beat.name,
        beat.member,
        beat.host,
        beat.pid,
        beat.state,
        beat.active,
        beat.position,
        beat.lag,
        float(beat.beat_every),
        beat.error,
    )


def beat_from_row(row: Sequence[Any]) -> Beat:
    """A :class:`Beat` from a row whose first columns are :func:`beat_values`' order."""
    return Beat(
        str(row[0]),
        str(row[1]),
        str(row[2]),
        str(row[3]),
        int(row[4]),
        str(row[5]),
        bool(row[6]),
        int(row[7]),
        None if row[8] is None else int(row[8]),
        float(row[9]),
        None if row[10] is None else str(row[10]),
    )


@dataclass(frozen=True, slots=True)
class StoredBeat:
    """A heartbeat as read back: the beat, and its ages by the database's clock.

    Attributes:
        heartbeat_age: seconds since the beat was written.
        progress_age: seconds since ``position`` last moved.
    """

    beat: Beat
    heartbeat_age: float
    progress_age: float


@runtime_checkable
class HeartbeatStore(Protocol):
    async def save_heartbeat(self, beat: Beat, progress_age: float) -> None:
        """Write ``beat`` (one row per component, name and member); its position last moved
        ``progress_age`` seconds ago."""
        ...

    async def load_heartbeats(self) -> list[StoredBeat]:
        """Every heartbeat row, by component, name and member."""
        ...

    async def forget_heartbeats(self, older_than: float) -> int:
        """Delete the rows not beaten for ``older_than`` seconds; how many went."""
        ...
