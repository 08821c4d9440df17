"""factstream: event sourcing and CQRS for asyncio.

Everything in ``__all__`` is the stable public API.
"""

from typing import TYPE_CHECKING, Any

from .domain import (
    Aggregate,
    AggregateNotFound,
    Command,
    CommandBus,
    CommandContext,
    DomainError,
    EventStoreSnapshotStore,
    HandlerNotFound,
    MemorySnapshotStore,
    MissingApplier,
    Query,
    QueryBus,
    Repository,
    Snapshot,
    SnapshotStore,
    applies,
    creates,
    updates,
)
from .domain.queries import ConsistencyWaiter, QueryAnswer
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
from .projections import (
    CheckpointWaiter,
    DeadLetter,
    DeadLetters,
    PartitionedWorker,
    PostgresTarget,
    ProcessContext,
    ProcessManager,
    Projection,
    ProjectionFailed,
    ProjectionOutdated,
    ProjectionRunner,
    RecordingDispatcher,
    RedisQueryCache,
    RedisTarget,
    RedisTransaction,
    RetryPolicy,
    SqliteTarget,
    SqlTransaction,
    handles,
)
from .schema import (
    EventRegistry,
    EventValidationError,
    RegistrationError,
    SchemaError,
    UnknownEventType,
    UpcastError,
)
from .store import (
    EventStore,
    MemoryEventStore,
    StoreLimits,
    StreamInfo,
    Subscription,
    connect,
)

if TYPE_CHECKING:
    from .store.sqlite import SqliteEventStore
    from .streaming import (
        ConsumerGroup,
        GroupSettings,
        Relay,
        RelaySettings,
        open_broker,
        open_streaming_state,
    )

__version__ = "0.1.0"

__all__ = [
    "ANY",
    "Aggregate",
    "AggregateNotFound",
    "AppendResult",
    "Command",
    "CommandBus",
    "CommandContext",
    "DomainError",
    "DuplicateEventId",
    "EventRegistry",
    "EventStore",
    "EventStoreSnapshotStore",
    "EventValidationError",
    "ExpectedVersion",
    "FactstreamError",
    "HandlerNotFound",
    "InvalidEvent",
    "MemoryEventStore",
    "MemorySnapshotStore",
    "MissingApplier",
    "NO_STREAM",
    "NewEvent",
    "Query",
    "QueryAnswer",
    "QueryBus",
    "ConsistencyWaiter",
    "CheckpointWaiter",
    "RecordedEvent",
    "RegistrationError",
    "Repository",
    "STREAM_EXISTS",
    "SchemaError",
    "Snapshot",
    "SnapshotStore",
    "SqliteEventStore",
    "StoreClosed",
    "StoreLimits",
    "StoreUnavailable",
    "StreamInfo",
    "StreamState",
    "Subscription",
    "UnknownEventType",
    "UnsupportedUrl",
    "UpcastError",
    "WrongExpectedVersion",
    "applies",
    # the read side
    "DeadLetter",
    "DeadLetters",
    "PartitionedWorker",
    "PostgresTarget",
    "ProcessContext",
    "ProcessManager",
    "Projection",
    "ProjectionFailed",
    "ProjectionOutdated",
    "ProjectionRunner",
    "RecordingDispatcher",
    "RedisQueryCache",
    "RedisTarget",
    "RedisTransaction",
    "RetryPolicy",
    "SqlTransaction",
    "SqliteTarget",
    "handles",
    "connect",
    "creates",
    "updates",
    "uuid7",
    "__version__",
    # streaming (factstream.streaming; NATS and Redis adapters load on first use).
    # DeadLetters and RetryPolicy of the streaming package are not exported here: the
    # read side's classes of the same names are (factstream.streaming has both).
    "ConsumerGroup",
    "GroupSettings",
    "Relay",
    "RelaySettings",
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
