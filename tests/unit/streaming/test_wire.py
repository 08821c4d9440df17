"""The hand-written wire formats: NATS header blocks (both ways) and the Redis envelope."""

from __future__ import annotations

import pytest
from nats.aio.client import Client

from factstream.streaming.brokers.envelope import decode_envelope, encode_envelope
from factstream.streaming.brokers.nats_wire import FastHeadersClient, header_block

RELAYED = {
    "ce-specversion": "1.0",
    "ce-id": "0192f1a0-1234-7abc-8def-0123456789ab",
    "ce-type": "OrderPlaced",
    "ce-time": "2026-11-26T14:00:00.123456Z",
    "ce-fsmetadata": '{"note":"a: b","x":[1,2]}',
    "content-type": "application/json",
}


def parse(block: bytes) -> dict[str, str]:
    """What nats-py itself reads from a block we wrote (after the ``NATS/1.0`` line)."""
    assert block.startswith(b"NATS/1.0\r\n")
    assert block.endswith(b"\r\n\r\n")
    return Client._parse_header_lines(block[len(b"NATS/1.0\r\n") :])


def test_a_header_block_reads_back_with_nats_py_as_written() -> None:
    block = header_block(RELAYED, "dedupe-1")
    assert parse(block) == {**RELAYED, "Nats-Msg-Id": "dedupe-1"}


def test_line_breaks_in_values_become_spaces_so_no_header_can_be_injected() -> None:
    block = header_block({"ce-subject": "order-1\r\nNats-Msg-Id: forged", "a": "x\ny"}, "real")
    assert parse(block) == {
        "ce-subject": "order-1  Nats-Msg-Id: forged",
        "a": "x y",
        "Nats-Msg-Id": "real",
    }


def test_a_dedupe_id_replaces_one_carried_in_the_headers() -> None:
    # A dead letter replayed with a new id carries the original's Nats-Msg-Id header.
    block = header_block({"Nats-Msg-Id": "old", "n": "1"}, "new")
    assert block.count(b"Nats-Msg-Id") == 1
    assert parse(block) == {"n": "1", "Nats-Msg-Id": "new"}


@pytest.mark.parametrize(
    "raw",
    [
        header_block(RELAYED, "m-1")[10:],
        b"Plain: value\r\nSpaced :  both sides  \r\nTab:\tv\r\n\r\n",
        b"no colon here\r\nbad name: skipped\r\n: empty name\r\nok: 1\r\n",
        "caf\u00e9: skipped\r\nvalue: caf\u00e9 \u2713\r\n".encode(),
        b"broken: \xff\xfe utf-8\r\n",
        b"",
    ],
)
def test_the_quicker_header_reader_agrees_with_nats_py(raw: bytes) -> None:
    assert FastHeadersClient._parse_header_lines(raw) == Client._parse_header_lines(raw)


def test_an_envelope_round_trips_non_ascii_and_long_headers() -> None:
    headers = {"ce-subject": "caf\u00e9-\u2713", "\u00fcber": "x" * 300, "empty": ""}
    assert decode_envelope(encode_envelope(headers, b'{"a":1}')) == (headers, b'{"a":1}')


@pytest.mark.parametrize("cut", [30, 40, 60])
def test_a_truncated_envelope_is_refused_with_a_clear_error(cut: int) -> None:
    envelope = encode_envelope(RELAYED, b"{}")
    with pytest.raises(ValueError, match="FastStream envelope"):
        decode_envelope(envelope[:cut])


def test_an_envelope_with_a_header_count_beyond_its_headers_is_refused() -> None:
    envelope = bytearray(encode_envelope({"a": "b"}, b"{}"))
    envelope[18:20] = (5).to_bytes(2, "big")  # the header count (at headers_start)
    with pytest.raises(ValueError, match="cut short"):
        decode_envelope(bytes(envelope))


def test_a_header_too_long_for_the_envelope_is_refused() -> None:
    with pytest.raises(ValueError, match="65,535"):
        encode_envelope({"big": "x" * 70_000}, b"{}")


@pytest.mark.parametrize(("batch_size", "max_pending"), [(0, 1024), (100, 0)])
def test_a_redis_batch_or_bound_below_one_is_refused(batch_size: int, max_pending: int) -> None:
    aioredis = pytest.importorskip("redis.asyncio")
    from factstream.streaming.brokers.redis import RedisStreamsBroker

    client = aioredis.Redis()  # never connected
    with pytest.raises(ValueError, match="must be >= 1"):
        RedisStreamsBroker(client, batch_size=batch_size, max_pending=max_pending)
