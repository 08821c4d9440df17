from __future__ import annotations

import msgspec
import pytest

from factstream.streaming.asyncapi import asyncapi_document


class Address(msgspec.Struct, frozen=True):
    city: str


class OrderPlaced(msgspec.Struct, frozen=True):
    """An order was placed."""

    order_id: str
    ship_to: Address


def test_the_document_lists_a_channel_per_partition_and_a_message_per_type() -> None:
    document = asyncapi_document({"OrderPlaced": OrderPlaced}, partitions=3, host="nats:4222")
    assert document["asyncapi"] == "3.0.0"
    assert list(document["channels"]) == ["partition0", "partition1", "partition2"]
    assert document["channels"]["partition1"]["address"] == "factstream.p1.{category}.{stream}"
    message = document["components"]["messages"]["OrderPlacedV1"]
    assert message["name"] == "OrderPlaced"
    assert message["summary"] == "An order was placed."
    schemas = document["components"]["schemas"]
    assert "Address" in schemas
    assert "#/$defs/" not in msgspec.json.encode(document).decode()
    assert schemas["CloudEventHeaders"]["properties"]["ce-specversion"]["const"] == "1.0"
    operation = document["operations"]["publishPartition0"]
    assert operation["action"] == "send"
    assert document["servers"]["nats"]["protocol"] == "nats"


def test_redis_channels_are_the_partition_keys() -> None:
    document = asyncapi_document([OrderPlaced], broker="redis", prefix="shop", partitions=2)
    assert document["channels"]["partition1"]["address"] == "shop:p1"
    assert "OrderPlacedV1" in document["components"]["messages"]


def test_an_unknown_broker_is_refused() -> None:
    with pytest.raises(ValueError, match="broker"):
        asyncapi_document([OrderPlaced], broker="kafka")
