"""The write side: aggregates, the repository with snapshots and temporal loads, the command
bus and the query bus."""

from .aggregate import Aggregate, applies
from .commands import Command, CommandBus, CommandContext, CommandHandler, Middleware, Next
from .errors import AggregateNotFound, DomainError, HandlerNotFound, MissingApplier
from .handlers import creates, updates
from .queries import Query, QueryBus, QueryHandler
from .repository import Repository
from .snapshots import EventStoreSnapshotStore, MemorySnapshotStore, Snapshot, SnapshotStore

__all__ = [
    "Aggregate",
    "AggregateNotFound",
    "Command",
    "CommandBus",
    "CommandContext",
    "CommandHandler",
    "DomainError",
    "EventStoreSnapshotStore",
    "HandlerNotFound",
    "MemorySnapshotStore",
    "Middleware",
    "MissingApplier",
    "Next",
    "Query",
    "QueryBus",
    "QueryHandler",
    "Repository",
    "Snapshot",
    "SnapshotStore",
    "applies",
    "creates",
    "updates",
]
