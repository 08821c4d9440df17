"""The event store port, its backends and ``connect(url)``.

Backends with optional dependencies are imported lazily, so ``import factstream`` needs only
msgspec.
"""

from typing import TYPE_CHECKING, Any

from .base import EventStore, StoreBase
from .catalog import StreamInfo
from .connect import connect
from .limits import StoreLimits
from .memory import MemoryEventStore
from .subscription import Subscription

if TYPE_CHECKING:
    from .postgres import PostgresEventStore
    from .sqlite import SqliteEventStore

__all__ = [
    "EventStore",
    "MemoryEventStore",
    "PostgresEventStore",
    "SqliteEventStore",
    "StoreBase",
    "StoreLimits",
    "StreamInfo",
    "Subscription",
    "connect",
]


def __getattr__(name: str) -> Any:
    if name == "SqliteEventStore":
        from .sqlite import SqliteEventStore

        return SqliteEventStore
    if name == "PostgresEventStore":
        from .postgres import PostgresEventStore

        return PostgresEventStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
