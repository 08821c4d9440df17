"""Opening SQLite connections the way factstream needs them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["SqliteSettings", "open_connection"]


@dataclass(frozen=True, slots=True)
class SqliteSettings:
    """How a SQLite store opens its file.

    Attributes:
        path: the database file.
        synchronous: ``"FULL"`` (default) fsyncs the WAL at every commit: a committed append
            survives a power cut. ``"NORMAL"`` fsyncs only at checkpoints: several times faster
            for single-event appends, still never corrupts the file, but the last commits before
            a power cut (not a process crash) can be lost.
        readers: the number of reader threads (each with its own connection).
        busy_timeout: seconds to wait for another process's write lock before giving up.
        max_group_requests: the most appends committed in one transaction (group commit).
        max_pending_appends: appends queued for the writer before callers wait for room.
        poll_interval: seconds between checks for commits made by other processes, while
            subscriptions are live.
        on_connect: called with every new connection (the writer's and each reader's) after
            factstream's own settings, e.g. to set ``PRAGMA cache_size`` or ``mmap_size``.
    """

    path: str
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    readers: int = 2
    busy_timeout: float = 30.0
    max_group_requests: int = 1000
    max_pending_appends: int = 10_000
    poll_interval: float = 0.01
    on_connect: Callable[[sqlite3.Connection], None] | None = None


def open_connection(settings: SqliteSettings) -> sqlite3.Connection:
    if settings.synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, got {settings.synchronous!r}")
    conn = sqlite3.connect(
        settings.path,
        timeout=settings.busy_timeout,
        isolation_level=None,  # we issue BEGIN/COMMIT ourselves
        check_same_thread=False,  # each connection is still used by one thread at a time
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={settings.synchronous}")
    if settings.on_connect is not None:
        settings.on_connect(conn)
    return conn
