"""The stored form of a recorded event: one JSON array, decoded in a single msgspec call.

``[id, type, data, metadata, stream_id, version, position, timestamp, correlation_id,
causation_id, schema_version]``, the fields of :class:`RecordedEvent` in order. The data keeps
the exact JSON the appender's data encoded to, so the array stays readable (``json_extract``)
and a row is decoded with one C call instead of one Python conversion per column, which is
what makes reading the log fast (see docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from ..events import RecordedEvent
from .encoding import EncodedEvent
from .idempotency import StoredEvent

__all__ = [
    "decode_envelope",
    "encode_envelope",
    "encode_envelope_buffers",
    "encode_timestamp",
    "stored_event",
]

_Envelope = tuple[
    uuid.UUID,
    str,
    dict[str, Any],
    dict[str, Any],
    str,
    int,
    int,
    dt.datetime,
    str | None,
    str | None,
    int,
]
_encoder = msgspec.json.Encoder()
_encode = _encoder.encode
_decode = msgspec.json.Decoder(_Envelope).decode
_EMPTY = msgspec.Raw(b"{}")


def encode_timestamp(timestamp: dt.datetime) -> msgspec.Raw:
    """A commit time encoded once for all the events of a transaction."""
    return msgspec.Raw(_encode(timestamp))


def encode_envelope(
    event: EncodedEvent, stream_id: str, version: int, position: int, timestamp: msgspec.Raw
) -> bytes:
    return _encode(
        (
            event.id,
            event.type,
            msgspec.Raw(event.data),
            msgspec.Raw(event.metadata) if event.metadata else _EMPTY,
            stream_id,
            version,
            position,
            timestamp,
            event.correlation_id,
            event.causation_id,
            event.schema_version,
        )
    )


def encode_envelope_buffers(
    batch: list[EncodedEvent],
    stream_id: str,
    first_version: int,
    first_position: int,
    timestamp: msgspec.Raw,
) -> list[bytearray]:
    """The envelopes of a batch stored at consecutive versions and positions (the same as
    :func:`encode_envelope` per event), each encoded into a ``bytearray``: Python's ``sqlite3``
    binds a ``bytearray`` directly, while ``bytes`` goes through its adapter lookup (~250 ns
    more a value, docs/benchmarks.md)."""
    into, raw, empty = _encoder.encode_into, msgspec.Raw, _EMPTY
    buffers = []
    for offset, event in enumerate(batch):
        buffer = bytearray()
        into(
            (
                event.id,
                event.type,
                raw(event.data),
                raw(event.metadata) if event.metadata else empty,
                stream_id,
                first_version + offset,
                first_position + offset,
                timestamp,
                event.correlation_id,
                event.causation_id,
                event.schema_version,
            ),
            buffer,
        )
        buffers.append(buffer)
    return buffers


def decode_envelope(body: bytes | bytearray) -> RecordedEvent:
    return RecordedEvent(*_decode(body))


def stored_event(body: bytes) -> StoredEvent:
    """What idempotency checks need of a stored event (a rare path: re-encodes the JSON)."""
    event = decode_envelope(body)
    return StoredEvent(
        event.stream_id,
        event.version,
        event.position,
        event.type,
        event.schema_version,
        _encode(event.data),
        _encode(event.metadata) if event.metadata else None,
        event.correlation_id,
        event.causation_id,
    )
