"""Streaming state (checkpoints, leases, applied versions) in the store's database.

``open_streaming_state(url)`` takes the same URL as the store: ``memory://``,
``sqlite:///path.db`` (a separate connection to the store's file), ``postgresql://...``
(``?streaming_schema=NAME``, default ``factstream_streaming``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from ...events import UnsupportedUrl
from .base import (
    Beat,
    CheckpointStore,
    HeartbeatStore,
    LeaseStore,
    StoredBeat,
    StreamingState,
    StreamMark,
    VersionStore,
)
from .memory import MemoryStreamingState

if TYPE_CHECKING:
    from .postgres import PostgresStreamingState
    from .sqlite import SqliteStreamingState

__all__ = [
    "Beat",
    "CheckpointStore",
    "HeartbeatStore",
    "LeaseStore",
    "MemoryStreamingState",
    "PostgresStreamingState",
    "SqliteStreamingState",
    "StoredBeat",
    "StreamMark",
    "StreamingState",
    "VersionStore",
    "open_streaming_state",
]


async def open_streaming_state(url: str) -> StreamingState:
    """Open the streaming state for the store at ``url`` (see the module docs).

    Raises:
        UnsupportedUrl: the scheme is not memory, sqlite or postgresql.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        return MemoryStreamingState()
    if scheme == "sqlite":
        from .sqlite import SqliteStreamingState

        path = unquote(parts.path)
        path = path[1:] if path.startswith("/") else path
        if parts.netloc or not path:
            raise UnsupportedUrl(f"{url!r}: use sqlite:///relative.db or sqlite:////abs/path.db")
        return await SqliteStreamingState.open(path)
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresStreamingState

        query = dict(parse_qsl(parts.query))
        schema = query.pop("streaming_schema", "factstream_streaming")
        query.pop("schema", None)  # the store's schema option
        dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
        return await PostgresStreamingState.open(dsn, schema=schema)
    raise UnsupportedUrl(f"{url!r}: streaming state needs memory://, sqlite:/// or postgresql://")


def __getattr__(name: str) -> Any:
    if name == "SqliteStreamingState":
        from .sqlite import SqliteStreamingState

        return SqliteStreamingState
    if name == "PostgresStreamingState":
        from .postgres import PostgresStreamingState

        return PostgresStreamingState
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
