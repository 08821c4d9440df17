"""A lone append: one statement without the advisory lock (see ``docs/postgres.md``).

Two statements can take a lone append, and both stay correct without the lock because the
unique constraints on ``position`` and ``(stream_id, version)`` make a statement that would
break the order fail whole:

- ``append_single`` / ``append_one`` (``statements.py``) read the head and the stream's
  version from the statement's snapshot, check the expected version, and insert.
- ``insert_single`` inserts one event at positions and versions the writer already knows,
  without reading anything first (a plain ``INSERT ... VALUES``, the cheapest statement there
  is). What the writer knows are *lower bounds*: the head and the versions it committed or
  read itself; the log only grows, so the true head and versions are at least these. Taking
  ``known head + 1`` and ``known version + 1`` can therefore only succeed when they are exactly
  the next ones: if anything was committed past them, that position or version exists (both
  are gap-free) and the insert fails on its unique constraint, nothing stored. The failure
  just means "not known any more": the writer forgets that bound and runs ``append_single``,
  which reads. A store that keeps failing that way (another process appends too) stops
  guessing for a second. It is used only where the known version settles the expected
  version: ``NO_STREAM`` (version 0 is a lower bound of every stream), ``ANY`` and
  ``STREAM_EXISTS`` on a stream it knows, or an expected version equal to the known one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from ...events import ANY, STREAM_EXISTS
from .requests import AppendRequest, one_arguments
from .statements import Statements

__all__ = ["LoneAppender"]

# Seconds without guessing after a guessed position was taken (another process appends).
_NO_GUESSES_AFTER_STALE_HEAD = 1.0
# The most streams whose versions the writer remembers (then it forgets them all).
_KNOWN_STREAMS = 10_000


class LoneAppender:
    """Runs lone appends on the writer's connection and keeps the bounds they use."""

    def __init__(self, statements: Statements) -> None:
        self._sql = statements
        self._head: int | None = None
        self._versions: dict[str, int] = {}
        self._no_guess_until = float("-inf")
        # Prepared once per connection: calling a PreparedStatement skips the statement
        # cache lookups of conn.execute()/fetchrow() (~15 µs of a ~300 µs append here).
        self._prepared: dict[str, Any] = {}
        self._prepared_on: asyncpg.Connection | None = None

    def forget(self) -> None:
        """Drop every bound (after a lost connection: the database may have been replaced)."""
        self._head = None
        self._versions.clear()

    def learn_head(self, last: int) -> None:
        """Position ``last`` is committed."""
        if self._head is None or last > self._head:
            self._head = last

    def _learn(self, stream_id: str, version: int) -> None:
        """``stream_id`` is at ``version`` or later."""
        versions = self._versions
        if stream_id not in versions and len(versions) >= _KNOWN_STREAMS:
            versions.clear()  # all at once: cheap, and a forgotten stream is read once
        if version > versions.get(stream_id, -1):
            versions[stream_id] = version

    async def append(
        self, conn: asyncpg.Connection, request: AppendRequest, channel: str | None
    ) -> tuple[int, int | None]:
        """Run ``request`` alone: (the stream's version before, the first position or None
        when the expected version did not hold). Learns what the outcome shows.

        Raises asyncpg's errors: a ``UniqueViolationError`` on ``events_pkey`` or
        ``events_stream_version_key`` means another writer won a race (decide it under the
        lock); on ``events_id_key``, that an event id is stored.
        """
        stream_id = request.stream_id
        known = self._known_version(request)
        head = self._head
        if known is not None and head is not None:
            event = request.batch[0]
            try:
                if channel is None:
                    insert = await self._statement(conn, self._sql.insert_single)
                    await insert.fetch(head + 1, stream_id, known + 1, *event)
                else:
                    insert = await self._statement(conn, self._sql.insert_single_notify)
                    await insert.fetch(head + 1, stream_id, known + 1, *event, channel)
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == "events_pkey":
                    self._head = None
                    self._no_guess_until = _now() + _NO_GUESSES_AFTER_STALE_HEAD
                elif exc.constraint_name == "events_stream_version_key":
                    self._versions.pop(stream_id, None)
                else:
                    raise
            else:
                self._learn(stream_id, known + 1)
                self.learn_head(head + 1)
                return known, head + 1
        sql = self._sql.append_single if len(request.batch) == 1 else self._sql.append_one
        statement = await self._statement(conn, sql)
        row = await statement.fetchrow(*one_arguments(request, channel))
        assert row is not None
        before, first = row[0], row[1]
        if first is None:
            self._learn(stream_id, before)
        else:
            count = len(request.batch)
            self._learn(stream_id, before + count)
            self.learn_head(first + count - 1)
        return before, first

    async def _statement(self, conn: asyncpg.Connection, sql: str) -> Any:
        if conn is not self._prepared_on:
            self._prepared = {}
            self._prepared_on = conn
        statement = self._prepared.get(sql)
        if statement is None:
            statement = self._prepared[sql] = await conn.prepare(sql)
        return statement

    def _known_version(self, request: AppendRequest) -> int | None:
        """The version to append after without reading, or None to read it."""
        if len(request.batch) != 1 or self._head is None or _now() < self._no_guess_until:
            return None
        expected = request.expected
        if expected == 0:
            return 0
        known = self._versions.get(request.stream_id)
        if known is None or expected is ANY:
            return known
        if expected is STREAM_EXISTS:
            return known if known > 0 else None
        return known if expected == known else None


def _now() -> float:
    return asyncio.get_running_loop().time()
