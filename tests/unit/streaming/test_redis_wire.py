"""The ``fs-event`` field of the relay's Redis entries and the lazily read envelope headers."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
import pytest

from factstream import RecordedEvent
from factstream.streaming.brokers.envelope import encode_envelope, envelope_body
from factstream.streaming.brokers.redis_wire import (
    EnvelopeHeaders,
    event_field,
    read_event_field,
)
from factstream.streaming.cloudevents import event_headers


def recorded(**changes: object) -> RecordedEvent:
    event = RecordedEvent(
        id=uuid.uuid4(),
        type="ItemAdded",
        data={"sku": "SKU-1", "quantity": 3, "note": "à la porte", "nested": {"a": [1, 2]}},
        metadata={},
        stream_id="order-1",
        version=7,
        position=1234,
        timestamp=dt.datetime(2026, 11, 26, 16, 34, 27, 123456, tzinfo=dt.UTC),
    )
    return msgspec.structs.replace(event, **changes)


def body_of(event: RecordedEvent) -> bytes:
    return msgspec.json.encode(event.data)


@pytest.mark.parametrize(
    "event",
    [
        recorded(),
        recorded(
            metadata={"traceparent": "00-abc-def-01", "user": "ünï"},
            correlation_id="corr-1",
            causation_id="cause-1",
            schema_version=3,
        ),
        # Strings that hold the data key itself: only the real key may be taken for it.
        recorded(type='Odd,"data":{}', stream_id='order-,"data":1'),
        recorded(data={}),
    ],
)
def test_the_event_field_gives_back_the_event_and_its_dedupe_id(event: RecordedEvent) -> None:
    body = body_of(event)
    value = event_field("msg-1", event, body)
    assert value is not None
    assert b',"data":,' in value  # the data is stored once, in the envelope's body
    read = read_event_field(value, body)
    assert read.msg_id == "msg-1"
    assert read.event == event
    assert read.event.timestamp.tzinfo is not None


def test_no_event_field_is_made_when_the_body_is_not_the_event_s_data() -> None:
    event = recorded()
    assert event_field("m", event, b'{"other":1}') is None


@pytest.mark.parametrize(
    ("value", "body"),
    [
        (b"not json", b"{}"),
        (b'{"msg_id":"m"}', b"{}"),  # no data key
        (b'{"msg_id":"m","event":{"id":"x","type":"t","data":}}', b"{}"),  # a bad id
    ],
)
def test_an_unreadable_event_field_raises_value_error(value: bytes, body: bytes) -> None:
    with pytest.raises(ValueError, match="fs-event"):
        read_event_field(value, body)


def test_an_event_field_whose_body_is_no_object_raises_value_error() -> None:
    event = recorded()
    value = event_field("m", event, body_of(event))
    assert value is not None
    with pytest.raises(ValueError, match="unreadable fs-event"):
        read_event_field(value, b"[1, 2]")


def test_envelope_headers_read_as_the_envelope_s_headers() -> None:
    event = recorded(correlation_id="c-1")
    headers = event_headers(event, "src")
    envelope = encode_envelope(headers, body_of(event))
    lazy = EnvelopeHeaders(envelope)
    assert lazy == headers
    assert dict(lazy) == headers
    assert len(lazy) == len(headers)
    assert lazy["ce-fsstream"] == "order-1"
    assert lazy.get("missing") is None
    assert {**lazy, "x": "y"} == {**headers, "x": "y"}
    assert envelope_body(envelope) == body_of(event)


def test_envelope_headers_of_an_unreadable_envelope_are_empty() -> None:
    lazy = EnvelopeHeaders(b"not an envelope")
    assert len(lazy) == 0
    assert lazy.get("ce-id") is None
    with pytest.raises(ValueError, match="FastStream envelope"):
        envelope_body(b"not an envelope")
