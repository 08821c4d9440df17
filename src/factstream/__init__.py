"""factstream: event sourcing and CQRS for asyncio.

Everything in ``__all__`` is the stable public API.
"""

from typing import TYPE_CHECKING, Any

from .events import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    DuplicateEventId,
    ExpectedVersion,
    FactstreamError,
    InvalidEvent,
    NewEvent,
    RecordedEvent,
    StoreClosed,
    StoreUnavailable,
    StreamState,
    UnsupportedUrl,
    WrongExpectedVersion,
    uuid7,
)
from .store import EventStore, MemoryEventStore, StoreLimits, Subscription, connect

if TYPE_CHECKING:
    from .store.sqlite import SqliteEventStore
    from .streaming import (
        ConsumerGroup,
        DeadLetters,
        GroupSettings,
        Relay,
        RelaySettings,
        RetryPolicy,
        open_broker,
        open_streaming_state,
    )

__version__ = "0.1.0"

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendResult",
    "DuplicateEventId",
    "EventStore",
    "ExpectedVersion",
    "FactstreamError",
    "InvalidEvent",
    "MemoryEventStore",
    "NewEvent",
    "RecordedEvent",
    "SqliteEventStore",
    "StoreClosed",
    "StoreLimits",
    "StoreUnavailable",
    "StreamState",
    "Subscription",
    "UnsupportedUrl",
    "WrongExpectedVersion",
    "__version__",
    "connect",
    "uuid7",
    # streaming (factstream.streaming; NATS and Redis adapters load on first use)
    "ConsumerGroup",
    "DeadLetters",
    "GroupSettings",
    "Relay",
    "RelaySettings",
    "RetryPolicy",
    "open_broker",
    "open_streaming_state",
]

_STREAMING = frozenset(__all__[__all__.index("ConsumerGroup") :])


def __getattr__(name: str) -> Any:
    # Backends load on first use, so importing factstream stays cheap.
    if name in _STREAMING:
        from . import streaming

        return getattr(streaming, name)
    if name == "SqliteEventStore":
        from .store.sqlite import SqliteEventStore

        return SqliteEventStore
    if name == "PostgresEventStore":
        from .store.postgres import PostgresEventStore

        return PostgresEventStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
