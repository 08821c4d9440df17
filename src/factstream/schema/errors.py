"""Errors of the schema layer: registration, unknown types, validation and upcasting."""

from __future__ import annotations

from ..events import FactstreamError

__all__ = [
    "EventValidationError",
    "RegistrationError",
    "SchemaError",
    "UnknownEventType",
    "UpcastError",
]


class SchemaError(FactstreamError):
    """Base class of the errors raised by the event registry and codecs."""


class RegistrationError(SchemaError, ValueError):
    """An event type cannot be registered as asked (duplicate name, missing upcaster, ...)."""


class UnknownEventType(SchemaError):
    """A stored event has a type name that no registered class answers to.

    Attributes:
        type: the unknown type name.
        stream_id: the stream the event is in.
        version: the event's version in its stream.
        position: the event's position in the global log.
    """

    def __init__(self, type: str, stream_id: str, version: int, position: int) -> None:
        self.type = type
        self.stream_id = stream_id
        self.version = version
        self.position = position
        super().__init__(
            f"unknown event type {type!r} at position {position} "
            f"(stream {stream_id!r}, version {version}); register it, or decode with "
            "on_unknown='skip' or 'keep'"
        )

    def __reduce__(self) -> tuple[type[UnknownEventType], tuple[str, str, int, int]]:
        return (type(self), (self.type, self.stream_id, self.version, self.position))


class EventValidationError(SchemaError, ValueError):
    """Event data does not match its class.

    Attributes:
        type: the event type name.
        path: where in the data the problem is, as a JSON path (``$.items[0].price``).
        reason: what is wrong there.
        position: the event's global position when it came from the store, else ``None``.
    """

    def __init__(self, type: str, path: str, reason: str, position: int | None = None) -> None:
        self.type = type
        self.path = path
        self.reason = reason
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"event {type!r}{where}: invalid field {path}: {reason}")

    def __reduce__(
        self,
    ) -> tuple[type[EventValidationError], tuple[str, str, str, int | None]]:
        return (type(self), (self.type, self.path, self.reason, self.position))


class UpcastError(SchemaError):
    """An upcaster failed, returned something that is not a dict, or a version has no path."""
