"""The event value types: what is appended, what is read back, and what an append returns."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from .errors import InvalidEvent
from .ids import uuid7

__all__ = ["AppendResult", "NewEvent", "RecordedEvent"]

_UUID = uuid.UUID


class _NewEventOptions(msgspec.Struct, frozen=True, kw_only=True):
    metadata: dict[str, Any] | None = None
    id: uuid.UUID = msgspec.field(default_factory=uuid7)
    correlation_id: str | None = None
    causation_id: str | None = None
    schema_version: int = 1


class NewEvent(_NewEventOptions, frozen=True):
    """An event to append: its type name, its data (a JSON object) and optional metadata.

    Args:
        type: the stable name of the event type, e.g. ``"OrderCreated"``.
        data: a JSON object (a ``dict`` with ``str`` keys and JSON-serialisable values).
        metadata: another JSON object for context that is not part of the fact itself.
        id: a unique id; a new time-ordered UUIDv7 by default. Re-appending the same ids is
            idempotent.
        correlation_id: the id of the whole conversation (request, workflow) this event is part of.
        causation_id: the id of the command or event that caused this one.
        schema_version: the version of ``type``'s schema the data follows (for upcasting).

    Raises:
        InvalidEvent: when a field has the wrong kind of value.
    """

    type: str
    data: dict[str, Any]

    def __post_init__(self) -> None:
        # The common case (exact types, no ids given as UUIDs) is decided by identity checks
        # alone; anything else takes the careful path that explains what is wrong.
        correlation_id, causation_id, version = (
            self.correlation_id,
            self.causation_id,
            self.schema_version,
        )
        if (
            type(self.type) is str
            and self.type
            and type(self.data) is dict
            and (self.metadata is None or type(self.metadata) is dict)
            and type(self.id) is _UUID
            and (correlation_id is None or (type(correlation_id) is str and correlation_id))
            and (causation_id is None or (type(causation_id) is str and causation_id))
            and type(version) is int
            and version >= 1
        ):
            return
        self._check()

    def _check(self) -> None:
        if not isinstance(self.type, str) or not self.type:
            raise InvalidEvent(f"event type must be a non-empty string, got {self.type!r}")
        if not isinstance(self.data, dict):
            raise InvalidEvent(
                f"event {self.type!r}: data must be a JSON object (a dict), "
                f"got {type(self.data).__name__}"
            )
        if self.metadata is not None and not isinstance(self.metadata, dict):
            raise InvalidEvent(
                f"event {self.type!r}: metadata must be a JSON object (a dict) or None, "
                f"got {type(self.metadata).__name__}"
            )
        if not isinstance(self.id, uuid.UUID):
            raise InvalidEvent(f"event {self.type!r}: id must be a uuid.UUID, got {self.id!r}")
        for name in ("correlation_id", "causation_id"):
            value = getattr(self, name)
            if isinstance(value, uuid.UUID):
                msgspec.structs.force_setattr(self, name, str(value))
            elif value is not None and (not isinstance(value, str) or not value):
                raise InvalidEvent(
                    f"event {self.type!r}: {name} must be a non-empty string, a UUID or None, "
                    f"got {value!r}"
                )
        version = self.schema_version
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise InvalidEvent(
                f"event {self.type!r}: schema_version must be an int >= 1, got {version!r}"
            )


class RecordedEvent(msgspec.Struct, frozen=True, gc=False):
    """An event as stored: a :class:`NewEvent` plus where and when it was recorded.

    Attributes:
        id: the event's unique id.
        type: the event type name.
        data: the event's JSON object.
        metadata: the metadata JSON object (empty when none was given).
        stream_id: the stream the event belongs to.
        version: the event's version within its stream (1, 2, 3, ... without gaps).
        position: the event's position in the global log (increasing in commit order).
        timestamp: when the event was committed (timezone-aware, UTC).
        correlation_id: the conversation the event is part of, if any.
        causation_id: the id of what caused the event, if any.
        schema_version: the schema version of ``data`` as stored.

    Recorded events are not tracked by Python's cycle collector (``gc=False``): reading the
    log makes hundreds of thousands of them, and collector passes over pages of them cost
    reading a fifth of its speed (docs/benchmarks.md). An event can be part of a reference
    cycle only if one is put into its own ``data`` or ``metadata``: don't.
    """

    id: uuid.UUID
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    stream_id: str
    version: int
    position: int
    timestamp: dt.datetime
    correlation_id: str | None = None
    causation_id: str | None = None
    schema_version: int = 1


class AppendResult(msgspec.Struct, frozen=True):
    """What an append returns.

    Attributes:
        stream_id: the stream appended to.
        version: the stream's version after the append (the version of its last event).
        position: the global position of the last appended event; pass it as a consistency
            token to wait for read models to catch up.
        first_position: the global position of the first appended event.
    """

    stream_id: str
    version: int
    position: int
    first_position: int
