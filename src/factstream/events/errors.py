"""The errors factstream raises. Every one derives from :class:`FactstreamError`."""

from __future__ import annotations

import uuid

from .versions import ExpectedVersion, describe

__all__ = [
    "DuplicateEventId",
    "FactstreamError",
    "InvalidEvent",
    "StoreClosed",
    "StoreUnavailable",
    "UnsupportedUrl",
    "WrongExpectedVersion",
]


class FactstreamError(Exception):
    """Base class of every error raised by factstream."""


class WrongExpectedVersion(FactstreamError):
    """The stream's version did not match the expected version; nothing was stored."""

    def __init__(self, stream_id: str, expected: ExpectedVersion, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"stream {stream_id!r}: expected {describe(expected)}, but it is at version {actual}"
        )

    def __reduce__(self) -> tuple[type[WrongExpectedVersion], tuple[str, ExpectedVersion, int]]:
        return (type(self), (self.stream_id, self.expected, self.actual))


class DuplicateEventId(FactstreamError):
    """An event id is already stored elsewhere or with other content; nothing was stored."""

    def __init__(self, event_id: uuid.UUID, stream_id: str, detail: str) -> None:
        self.event_id = event_id
        self.stream_id = stream_id
        super().__init__(f"event id {event_id} appended to stream {stream_id!r}: {detail}")

    def __reduce__(self) -> tuple[type[DuplicateEventId], tuple[uuid.UUID, str, str]]:
        detail = str(self).split(": ", 1)[1]
        return (type(self), (self.event_id, self.stream_id, detail))


class InvalidEvent(FactstreamError, ValueError):
    """An append or read was given bad input; the message says what was wrong.

    Nothing was stored.
    """


class UnsupportedUrl(FactstreamError, ValueError):
    """``connect()`` was given a URL it cannot open."""


class StoreClosed(FactstreamError):
    """The store was closed; open a new one with ``connect()``."""


class StoreUnavailable(FactstreamError):
    """The backend could not be reached or lost its connection.

    For an append this means the outcome is unknown: the batch was stored whole or not at all.
    Retrying the same batch (same event ids) is safe: appends are idempotent.
    """
