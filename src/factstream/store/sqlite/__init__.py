"""The SQLite backend."""

from .connection import SqliteSettings
from .store import SqliteEventStore

__all__ = ["SqliteEventStore", "SqliteSettings"]
