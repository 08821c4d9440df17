"""Streaming: the relay (the events table is the outbox), brokers, consumer groups.

NATS JetStream (extra ``nats``) and Redis Streams (extra ``redis``) are imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .brokers import (
    Broker,
    BrokerUnavailable,
    DeadLetter,
    Delivery,
    MemoryBroker,
    OutboundMessage,
    open_broker,
)
from .cloudevents import MalformedMessage, event_from_message, event_headers
from .consumer import ConsumerGroup, GroupSettings, GroupStatus
from .deadletters import DeadLetters
from .leases import LeaseKeeper, LeaseLost
from .partitioning import category_of, partition_of, subject_token
from .relay import Relay, RelaySettings, RelayStatus, message_for
from .state import (
    CheckpointStore,
    LeaseStore,
    MemoryStreamingState,
    StreamingState,
    StreamMark,
    VersionStore,
    open_streaming_state,
)
from .worker import RetryPolicy

if TYPE_CHECKING:
    from .brokers.nats import NatsBroker
    from .brokers.redis import RedisStreamsBroker
    from .state.postgres import PostgresStreamingState
    from .state.sqlite import SqliteStreamingState

__all__ = [
    "Broker",
    "BrokerUnavailable",
    "CheckpointStore",
    "ConsumerGroup",
    "DeadLetter",
    "DeadLetters",
    "Delivery",
    "GroupSettings",
    "GroupStatus",
    "LeaseKeeper",
    "LeaseLost",
    "LeaseStore",
    "MalformedMessage",
    "MemoryBroker",
    "MemoryStreamingState",
    "NatsBroker",
    "OutboundMessage",
    "PostgresStreamingState",
    "RedisStreamsBroker",
    "Relay",
    "RelaySettings",
    "RelayStatus",
    "RetryPolicy",
    "SqliteStreamingState",
    "StreamMark",
    "StreamingState",
    "VersionStore",
    "category_of",
    "event_from_message",
    "event_headers",
    "message_for",
    "open_broker",
    "open_streaming_state",
    "partition_of",
    "subject_token",
]

_LAZY = {
    "NatsBroker": ("brokers.nats", "NatsBroker"),
    "RedisStreamsBroker": ("brokers.redis", "RedisStreamsBroker"),
    "SqliteStreamingState": ("state.sqlite", "SqliteStreamingState"),
    "PostgresStreamingState": ("state.postgres", "PostgresStreamingState"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
