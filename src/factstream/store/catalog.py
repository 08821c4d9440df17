"""Looking the log up by something other than a stream or a position range: the streams that
exist, an event by id or position, the events of a correlation or a cause.

These are the store port's read primitives for tools (the web console, ``factstream streams
list``): each backend answers them from an index, so none scans the log.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from ..events import InvalidEvent, RecordedEvent

__all__ = [
    "MAX_LOOKUP_LIMIT",
    "StreamInfo",
    "check_event_id",
    "check_link",
    "check_listing",
    "listing_bounds",
    "prefix_end",
    "stream_info",
]

MAX_LOOKUP_LIMIT = 10_000
"""The largest page :meth:`~factstream.store.EventStore.list_streams` and the correlation and
causation lookups answer in one call."""

_SURROGATES = range(0xD800, 0xE000)


def listing_bounds(prefix: str, after: str) -> tuple[str, bool, str | None]:
    """The one lower bound and the upper bound of a stream listing, for an index range scan:
    ``(low, strict, high)`` means ids ``> low`` (``>= low`` unless ``strict``) and ``< high``
    (no upper bound when None). Databases do not always pick the tighter of two lower bounds
    themselves."""
    if after >= prefix:
        return after, True, prefix_end(prefix)
    return prefix, False, prefix_end(prefix)


def prefix_end(prefix: str) -> str | None:
    """The smallest string after every string starting with ``prefix`` (code point order):
    ids starting with ``prefix`` are those ``>= prefix`` and ``< prefix_end(prefix)``.
    None when there is no such bound (an empty prefix, or only U+10FFFF characters)."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if last in _SURROGATES:
            last = _SURROGATES.stop
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None


class StreamInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A stream as :meth:`~factstream.store.EventStore.list_streams` reports it.

    Attributes:
        stream_id: the stream's id.
        version: its current version (the number of its events).
        last_position: the global position of its newest event.
        last_recorded_at: when its newest event was committed (aware UTC).
    """

    stream_id: str
    version: int
    last_position: int
    last_recorded_at: dt.datetime


def stream_info(last: RecordedEvent) -> StreamInfo:
    """A stream's entry in a listing, from its newest event."""
    return StreamInfo(
        stream_id=last.stream_id,
        version=last.version,
        last_position=last.position,
        last_recorded_at=last.timestamp,
    )


def _check_limit(limit: object) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LOOKUP_LIMIT:
        raise InvalidEvent(f"limit must be an int from 1 to {MAX_LOOKUP_LIMIT}, got {limit!r}")
    return limit


def _check_text(name: str, value: object, max_length: int) -> str:
    if not isinstance(value, str):
        raise InvalidEvent(f"{name} must be a string, got {type(value).__name__}")
    if len(value) > max_length:
        raise InvalidEvent(f"{name} is {len(value)} characters long, over {max_length}")
    if "\x00" in value:
        raise InvalidEvent(f"{name} must not contain NUL characters")
    return value


def check_listing(
    prefix: object, after: object, limit: object, max_length: int
) -> tuple[str, str, int]:
    """Validated ``(prefix, after, limit)`` of a stream listing; ``""`` for a missing one."""
    return (
        "" if prefix is None else _check_text("prefix", prefix, max_length),
        "" if after is None else _check_text("after", after, max_length),
        _check_limit(limit),
    )


def check_link(name: str, value: object, from_position: object, limit: object) -> int:
    """Checks a correlation or causation lookup; returns the limit."""
    _check_text(name, value, 4096)
    if not value:
        raise InvalidEvent(f"{name} must not be empty")
    if not isinstance(from_position, int) or isinstance(from_position, bool) or from_position < 1:
        raise InvalidEvent(f"from_position must be an int >= 1, got {from_position!r}")
    return _check_limit(limit)


def check_event_id(event_id: object) -> uuid.UUID:
    if not isinstance(event_id, uuid.UUID):
        raise InvalidEvent(f"event_id must be a uuid.UUID, got {type(event_id).__name__}")
    return event_id
