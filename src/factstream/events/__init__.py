"""Event value types, ids, expected versions and errors. No I/O."""

from .errors import (
    DuplicateEventId,
    FactstreamError,
    InvalidEvent,
    StoreClosed,
    StoreUnavailable,
    UnsupportedUrl,
    WrongExpectedVersion,
)
from .ids import uuid7
from .model import AppendResult, NewEvent, RecordedEvent
from .versions import ANY, NO_STREAM, STREAM_EXISTS, ExpectedVersion, StreamState

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendResult",
    "DuplicateEventId",
    "ExpectedVersion",
    "FactstreamError",
    "InvalidEvent",
    "NewEvent",
    "RecordedEvent",
    "StoreClosed",
    "StoreUnavailable",
    "StreamState",
    "UnsupportedUrl",
    "WrongExpectedVersion",
    "uuid7",
]
