"""Recorded events as CloudEvents 1.0 messages in binary content mode, and back.

The body is the event's data as JSON; the attributes travel as headers with the ``ce-`` prefix
(the HTTP and NATS bindings' binary mode). factstream's own attributes are CloudEvents
extensions (lowercase letters and digits only, as the specification requires):

==================== ==========================================================
header               meaning
==================== ==========================================================
``ce-specversion``   ``1.0``
``ce-id``            the event id (UUID); also the broker's dedupe key
``ce-source``        where the events come from (``RelaySettings.source``)
``ce-type``          the stable event type name
``ce-time``          commit time, RFC 3339, UTC
``ce-subject``       the stream id
``content-type``     ``application/json`` (``datacontenttype``)
``ce-partitionkey``  the stream id (CloudEvents partitioning extension)
``ce-fsstream``      the stream id
``ce-fsversion``     the event's version in its stream
``ce-fsposition``    the event's position in the global log
``ce-fsschema``      the schema version of the data
``ce-fscorrelation`` the correlation id, when there is one
``ce-fscausation``   the causation id, when there is one
``ce-fsmetadata``    the event's metadata as a JSON object, when not empty
``ce-traceparent``   W3C trace context (distributed tracing extension), from
                     ``metadata["traceparent"]``; ``ce-tracestate`` likewise
``message_id``       the event id, and ``correlation_id`` (the correlation id, or
                     the event id): the headers FastStream subscribers read
==================== ==========================================================
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec

from ..events import RecordedEvent

__all__ = ["CONTENT_TYPE", "MalformedMessage", "event_from_message", "event_headers"]

CONTENT_TYPE = "application/json"
_encode = msgspec.json.encode
_decode = msgspec.json.decode


class MalformedMessage(ValueError):
    """A broker message lacks the factstream attributes or has unreadable ones."""


def event_headers(event: RecordedEvent, source: str) -> dict[str, str]:
    """The CloudEvents binary-mode headers of ``event`` (see the module docs)."""
    event_id = str(event.id)
    stream_id = event.stream_id
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": source,
        "ce-type": event.type,
        "ce-time": event.timestamp.isoformat().replace("+00:00", "Z"),
        "ce-subject": stream_id,
        "content-type": CONTENT_TYPE,
        "ce-partitionkey": stream_id,
        "ce-fsstream": stream_id,
        "ce-fsversion": str(event.version),
        "ce-fsposition": str(event.position),
        "ce-fsschema": str(event.schema_version),
        "message_id": event_id,
        "correlation_id": event.correlation_id or event_id,
    }
    if event.correlation_id is not None:
        headers["ce-fscorrelation"] = event.correlation_id
    if event.causation_id is not None:
        headers["ce-fscausation"] = event.causation_id
    metadata = event.metadata
    if metadata:
        headers["ce-fsmetadata"] = _encode(metadata).decode()
        for name in ("traceparent", "tracestate"):
            value = metadata.get(name)
            if isinstance(value, str):
                headers[f"ce-{name}"] = value
    return headers


def event_from_message(headers: Mapping[str, str], body: bytes) -> RecordedEvent:
    """Rebuild the :class:`RecordedEvent` a relay published.

    Raises:
        MalformedMessage: a required attribute is missing or unreadable.
    """
    try:
        metadata_text = headers.get("ce-fsmetadata")
        metadata: dict[str, Any] = _decode(metadata_text) if metadata_text else {}
        data = _decode(body)
        if not isinstance(data, dict) or not isinstance(metadata, dict):
            raise MalformedMessage("data and metadata must be JSON objects")
        return RecordedEvent(
            id=uuid.UUID(headers["ce-id"]),
            type=headers["ce-type"],
            data=data,
            metadata=metadata,
            stream_id=headers["ce-fsstream"],
            version=int(headers["ce-fsversion"]),
            position=int(headers["ce-fsposition"]),
            timestamp=dt.datetime.fromisoformat(headers["ce-time"]),
            correlation_id=headers.get("ce-fscorrelation"),
            causation_id=headers.get("ce-fscausation"),
            schema_version=int(headers.get("ce-fsschema", "1")),
        )
    except MalformedMessage:
        raise
    except (KeyError, ValueError, msgspec.DecodeError) as exc:
        raise MalformedMessage(f"not a factstream event message: {exc!r}") from None
