"""Validation and JSON encoding of appended events, and decoding of stored rows.

Every backend funnels appends through :func:`encode_batch`, so bad input is refused the same way
everywhere, before any I/O, and stores nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec

from ..events import InvalidEvent, NewEvent, RecordedEvent
from ..events.versions import ExpectedVersion, StreamState
from .limits import StoreLimits

__all__ = [
    "EncodedEvent",
    "RowDecoder",
    "check_expected_version",
    "check_stream_id",
    "encode_batch",
]

_encoder = msgspec.json.Encoder()
_json_decode = msgspec.json.Decoder(dict[str, Any]).decode


class EncodedEvent(NamedTuple):
    """An appended event, validated and with its data and metadata encoded as JSON."""

    id: uuid.UUID
    type: str
    schema_version: int
    data: bytes
    metadata: bytes | None
    correlation_id: str | None
    causation_id: str | None


def check_stream_id(stream_id: object, limits: StoreLimits) -> str:
    if not isinstance(stream_id, str):
        raise InvalidEvent(f"stream id must be a string, got {type(stream_id).__name__}")
    if not stream_id:
        raise InvalidEvent("stream id must not be empty")
    if len(stream_id) > limits.max_stream_id_length:
        raise InvalidEvent(
            f"stream id is {len(stream_id)} characters long, "
            f"over the limit of {limits.max_stream_id_length}: {stream_id[:40]!r}..."
        )
    if "\x00" in stream_id:
        raise InvalidEvent(f"stream id must not contain NUL characters: {stream_id!r}")
    return stream_id


def check_expected_version(expected: object) -> ExpectedVersion:
    if isinstance(expected, StreamState):
        return expected
    if isinstance(expected, int) and not isinstance(expected, bool) and expected >= 0:
        return expected
    raise InvalidEvent(
        "expected_version must be an int >= 0 (0 is NO_STREAM), ANY or STREAM_EXISTS, "
        f"got {expected!r}"
    )


def _encode_object(value: dict[str, Any], what: str, index: int, event_type: str) -> bytes:
    for key in value:
        if not isinstance(key, str):
            raise InvalidEvent(
                f"event #{index} ({event_type!r}): {what} keys must be strings, got {key!r}"
            )
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidEvent(
            f"event #{index} ({event_type!r}): {what} is not JSON-serialisable: {exc}"
        ) from exc


def encode_batch(events: Sequence[NewEvent], limits: StoreLimits) -> list[EncodedEvent]:
    """Validate and encode a batch for appending.

    Raises:
        InvalidEvent: naming the first problem found; nothing is stored.
    """
    if isinstance(events, (NewEvent, str, bytes, dict)) or not isinstance(events, Sequence):
        raise InvalidEvent(f"events must be a list of NewEvent, got {type(events).__name__}")
    if not events:
        raise InvalidEvent("cannot append an empty batch: pass at least one NewEvent")
    if len(events) > limits.max_batch_events:
        raise InvalidEvent(
            f"batch of {len(events)} events is over the limit of {limits.max_batch_events}"
        )
    encoded: list[EncodedEvent] = []
    max_type, max_size = limits.max_type_length, limits.max_event_size
    encode, make = _encoder.encode, tuple.__new__
    for index, event in enumerate(events):
        if type(event) is not NewEvent and not isinstance(event, NewEvent):
            raise InvalidEvent(f"event #{index} must be a NewEvent, got {type(event).__name__}")
        if len(event.type) > max_type:
            raise InvalidEvent(
                f"event #{index}: type name is {len(event.type)} characters long, "
                f"over the limit of {max_type}"
            )
        try:
            data = encode(event.data)
            metadata = encode(event.metadata) if event.metadata else None
        except (TypeError, ValueError, OverflowError):
            _explain_encoding_failure(event, index)
            raise  # not reached: the explanation raises
        if not (
            _has_str_keys(event.data) and (not event.metadata or _has_str_keys(event.metadata))
        ):
            _explain_encoding_failure(event, index)
        size = len(data) + (len(metadata) if metadata else 0)
        if size > max_size:
            raise InvalidEvent(
                f"event #{index} ({event.type!r}) is {size} bytes encoded, "
                f"over the limit of {max_size}"
            )
        # tuple.__new__ skips the NamedTuple's Python-level constructor on this hot path.
        encoded.append(
            make(
                EncodedEvent,
                (
                    event.id,
                    event.type,
                    event.schema_version,
                    data,
                    metadata,
                    event.correlation_id,
                    event.causation_id,
                ),
            )
        )
    if len(encoded) > 1 and len({item.id.int for item in encoded}) != len(encoded):
        seen: set[int] = set()
        for index, item in enumerate(encoded):
            if item.id.int in seen:
                raise InvalidEvent(f"event #{index}: id {item.id} appears twice in the batch")
            seen.add(item.id.int)
    return encoded


_ONLY_STR = frozenset((str,))


def _has_str_keys(value: dict[str, Any]) -> bool:
    return _ONLY_STR.issuperset(map(type, value))  # no Python-level loop


def _explain_encoding_failure(event: NewEvent, index: int) -> None:
    """Raise the InvalidEvent that says why ``event`` cannot be stored."""
    _encode_object(event.data, "data", index, event.type)
    if event.metadata:
        _encode_object(event.metadata, "metadata", index, event.type)
    raise InvalidEvent(f"event #{index} ({event.type!r}) cannot be encoded as JSON")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class RowDecoder:
    """Turns stored columns into :class:`RecordedEvent` values.

    Events committed together share a timestamp, so the last conversion is remembered.
    One decoder per reading thread: it is not thread-safe.
    """

    __slots__ = ("_last_micros", "_last_timestamp")

    def __init__(self) -> None:
        self._last_micros = -1
        self._last_timestamp = _EPOCH

    def timestamp(self, micros: int) -> dt.datetime:
        if micros != self._last_micros:
            self._last_micros = micros
            self._last_timestamp = _EPOCH + dt.timedelta(microseconds=micros)
        return self._last_timestamp

    def event(
        self,
        position: int,
        event_id: uuid.UUID,
        stream_id: str,
        version: int,
        event_type: str,
        schema_version: int,
        data: bytes,
        metadata: bytes | None,
        correlation_id: str | None,
        causation_id: str | None,
        micros: int,
    ) -> RecordedEvent:
        return RecordedEvent(
            event_id,
            event_type,
            _json_decode(data),
            _json_decode(metadata) if metadata else {},
            stream_id,
            version,
            position,
            self.timestamp(micros),
            correlation_id,
            causation_id,
            schema_version,
        )
