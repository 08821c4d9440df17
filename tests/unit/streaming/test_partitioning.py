from __future__ import annotations

import datetime as dt
import uuid
import zlib
from urllib.parse import unquote

from factstream import RecordedEvent
from factstream.streaming import (
    category_of,
    event_from_message,
    event_headers,
    message_for,
    partition_of,
    subject_token,
)
from factstream.streaming.brokers.envelope import decode_envelope, encode_envelope


def test_partition_is_crc32_of_the_stream_id_mod_partitions() -> None:
    assert partition_of("order-42", 8) == zlib.crc32(b"order-42") % 8
    assert partition_of("order-42", 8) == 6  # fixed forever: other services rely on it
    assert {partition_of(f"s-{n}", 4) for n in range(100)} == {0, 1, 2, 3}


def test_category_is_the_part_before_the_first_dash() -> None:
    assert category_of("order-42-b") == "order"
    assert category_of("plain") == "plain"
    assert category_of("-x") == "_"


def test_subject_tokens_escape_what_nats_treats_specially_and_reverse() -> None:
    assert subject_token("order-42_a") == "order-42_a"
    for text in ("a.b", "a*b>c", "with space", "ünï", "%"):
        token = subject_token(text)
        assert not set(token) & set(".*> \t")
        assert unquote(token) == text


def _event(**extra: object) -> RecordedEvent:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "type": "OrderPlaced",
        "data": {"total": 9.5, "lines": [1, 2]},
        "metadata": {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        "stream_id": "order-7",
        "version": 3,
        "position": 99,
        "timestamp": dt.datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=dt.UTC),
        "correlation_id": "corr-1",
        "causation_id": "cause-1",
        "schema_version": 2,
    }
    fields.update(extra)
    return RecordedEvent(**fields)  # type: ignore[arg-type]


def test_cloudevents_headers_round_trip_to_the_recorded_event() -> None:
    event = _event()
    headers = event_headers(event, "urn:test")
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == str(event.id) == headers["message_id"]
    assert headers["ce-type"] == "OrderPlaced"
    assert headers["ce-source"] == "urn:test"
    assert headers["ce-time"] == "2026-01-02T03:04:05.000600Z"
    assert headers["content-type"] == "application/json"
    assert headers["correlation_id"] == "corr-1"
    assert headers["ce-traceparent"].startswith("00-4bf9")
    assert all(k == k.lower() for k in headers)
    message = message_for(event, 8, "urn:test")
    assert message.partition == partition_of("order-7", 8)
    assert message.msg_id == str(event.id)
    assert event_from_message(message.headers, message.body) == event


def test_events_without_optional_attributes_round_trip() -> None:
    event = _event(metadata={}, correlation_id=None, causation_id=None, schema_version=1)
    headers = event_headers(event, "s")
    assert "ce-fsmetadata" not in headers
    assert headers["correlation_id"] == str(event.id)
    assert event_from_message(headers, message_for(event, 1, "s").body) == event


def test_the_redis_envelope_round_trips() -> None:
    headers = {"a": "b", "ünï": "çödé", "empty": ""}
    assert decode_envelope(encode_envelope(headers, b"{}")) == (headers, b"{}")
