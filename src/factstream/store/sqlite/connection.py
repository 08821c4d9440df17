"""Opening SQLite connections the way factstream needs them."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ...events import RecordedEvent

__all__ = ["SqliteSettings", "enable_wal", "open_connection"]


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
        direct_commits: commit an append on the event loop's thread when it is the only one
            made in a turn of the loop and the writer thread is idle (default). A sequential
            caller then waits for its commit only, not for two thread hand-offs; the loop is
            blocked for that one commit (an fsync with ``FULL``), as with any synchronous
            driver. Never blocks on another process's lock: the append then goes to the
            writer thread. ``False`` sends every append to the writer thread.
        on_commit_rows: called by the writer thread with its connection and the recorded
            events of each append, inside that append's savepoint, before COMMIT (inline
            projections). If it raises, that append alone is rolled back and fails with the
            error. When set, appends are decided one at a time.
    """

    path: str
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    readers: int = 2
    busy_timeout: float = 30.0
    max_group_requests: int = 1000
    max_pending_appends: int = 10_000
    poll_interval: float = 0.01
    direct_commits: bool = True
    on_connect: Callable[[sqlite3.Connection], None] | None = None
    on_commit_rows: Callable[[sqlite3.Connection, list[RecordedEvent]], None] | None = None


def open_connection(
    settings: SqliteSettings, *, busy_timeout: float | None = None
) -> sqlite3.Connection:
    """A connection to the store's file; ``busy_timeout`` overrides the settings' one."""
    if settings.synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, got {settings.synchronous!r}")
    timeout = settings.busy_timeout if busy_timeout is None else busy_timeout
    conn = sqlite3.connect(
        settings.path,
        timeout=timeout,
        isolation_level=None,  # we issue BEGIN/COMMIT ourselves
        check_same_thread=False,  # each connection is still used by one thread at a time
    )
    enable_wal(conn, settings.busy_timeout)
    conn.execute(f"PRAGMA synchronous={settings.synchronous}")
    if settings.on_connect is not None:
        settings.on_connect(conn)
    return conn


def enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Put the file in WAL mode (it stays so), waiting out other connections doing the same.

    Switching the journal mode needs the file to itself, and SQLite answers "database is
    locked" at once, without its busy handler, while another process opens the new file: so
    look first (a file already in WAL mode needs nothing) and retry with backoff.
    """
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchall()[0][0]).lower() == "wal":
                return
            conn.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            message = str(exc)
            if ("locked" not in message and "busy" not in message) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
