"""The writer: one connection per store, group commit, gap-free positions.

Appends from every task of the process wait in a bounded queue. The writer takes as many as are
waiting and hands them to ``append_group()`` (``sql/001_events.sql``) in one call, which is one
transaction: it takes the schema's advisory lock, reads the head and the versions of the
group's streams, decides each append in queue order (a conflict rejects only that append), and
inserts every accepted event with one ``INSERT ... SELECT FROM unnest(...)``. No savepoints.

A group of one append (a sequential caller's) is instead one plain statement without the lock
(``lone.py``): an insert at the head and version the writer knows, or one that reads them from
its snapshot. That stays correct without the lock because of the unique constraints: a
position or version that another process committed (or is committing) collides, the statement
fails whole, and the append is decided again, by reading or under the lock; so a position is
only ever committed above every committed one, in commit order, as under the lock. After a
race of the reading statement the writer takes the lock for every append for a second.

A lone append does not even go through the task when the task is idle and nothing is queued
(``direct_appends``): the caller runs the statement on the writer's connection itself, saving
the hand-offs to the task and back. Within a second of an append being queued (other tasks
append too), it first yields one turn of the loop, so that appends of other tasks ready in
that turn queue and it joins their group. While it runs, the connection is busy and later
appends queue for the task, which waits for it. Anything but an accepted append
(a rejection, a race, a stored id, a lost connection) hands the request to the task, which
decides it again as above; a cancelled caller leaves no transaction open (the statement is
alone) and the task then reads the head, in case it committed.

A stored event id raises a unique violation that rolls the whole call back; the writer then
looks the ids up, answers the retried batches (idempotent appends) and duplicates, and calls
again with the rest. A lost connection is retried the same way for ``reconnect_timeout``
seconds: whatever the lost call did is committed whole or not at all, and the retry finds out.

With an ``on_commit_rows`` hook (inline projections), the call runs in an explicit transaction
and, before COMMIT, the hook gets the connection and each accepted append's recorded events. A
hook that raises rolls the whole group back (an event's savepoint would leave a hole in the
positions); that append is answered with the error and the rest are decided again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from ...events import (
    AppendResult,
    RecordedEvent,
    StoreClosed,
    StoreUnavailable,
)
from ..encoding import RowDecoder
from .connection import PostgresSettings, is_disconnect
from .lone import LoneAppender
from .requests import (
    AppendRequest,
    Outcome,
    deliver,
    deliver_each,
    group_arguments,
    unavailable,
)
from .statements import Statements
from .stored import answer_rejected, answer_retries, stored_events

__all__ = ["AppendRequest", "CommitRowsHook", "PostgresWriter"]

_ID_CONSTRAINT = "events_id_key"
_RACE_CONSTRAINTS = frozenset(("events_pkey", "events_stream_version_key"))
# After a lock-free append lost a race, appends take the lock for this long (seconds).
_LOCKED_AFTER_RACE = 1.0
# After an append was queued, a lone append yields a turn of the loop first for this long.
_GROUPING_AFTER_QUEUEING = 1.0


CommitRowsHook = Callable[[asyncpg.Connection, list[RecordedEvent]], Awaitable[None]]
"""Called with the writer's connection and one append's recorded events, in the append's
transaction, before COMMIT (inline projections). Raising fails that append alone."""


class _HookFailed(Exception):
    def __init__(self, request: AppendRequest, error: Exception) -> None:
        super().__init__(repr(error))
        self.request = request
        self.error = error


class PostgresWriter:
    """Owns the write connection and the task that drains the append queue."""

    def __init__(
        self,
        settings: PostgresSettings,
        statements: Statements,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        on_commit: Callable[[int], None],
        on_commit_rows: CommitRowsHook | None = None,
    ) -> None:
        self._settings = settings
        self._on_commit_rows = on_commit_rows
        self._sql = statements
        self._connect = connect
        self._on_commit = on_commit
        self._queue: asyncio.Queue[AppendRequest | None] = asyncio.Queue(
            settings.max_pending_appends
        )
        self._carried: deque[AppendRequest] = deque()
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_notify = float("-inf")
        self._notify_owed = False
        self._locked_until = float("-inf")
        self._lone = LoneAppender(statements)
        # Whoever uses the connection sets _busy: the writer task, or a caller appending
        # directly (only when it is not set). Only the writer task (or stop) waits for it.
        self._busy = False
        self._own_statement = False  # _busy for the task's own NOTIFY or head lookup
        self._freed: asyncio.Future[None] | None = None
        self._direct_enabled = settings.direct_appends and on_commit_rows is None
        self._direct_pending = False  # a lone append is yielding its turn before going direct
        self._grouping_until = float("-inf")  # until then, a lone append yields a turn first
        self._uncertain = False  # a direct append was cancelled: it may have committed
        self._waiter: asyncio.Future[None] | None = None  # the idle writer task waits on it
        self._waiting_timed = False  # ... with a deadline (an owed NOTIFY)

    @property
    def connection(self) -> asyncpg.Connection | None:
        return self._conn

    def start(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="factstream-postgres-writer"
        )

    async def append(self, request: AppendRequest) -> AppendResult:
        """Decide ``request``: directly when it is alone and the writer idle, else queued."""
        if self._stopping:
            raise StoreClosed("the PostgreSQL store is closed")
        if self._direct_ok():
            if _now() >= self._grouping_until:
                return await self._direct(request)
            # Appends were queued lately (other tasks append too): yield one turn of the loop
            # first, so that appends of other tasks ready in this turn queue meanwhile (they
            # see _direct_pending), and then this one joins their group.
            self._direct_pending = True
            try:
                await asyncio.sleep(0)
            finally:
                self._direct_pending = False
            if self._direct_ok():
                return await self._direct(request)
        if self._appending():
            self._grouping_until = _now() + _GROUPING_AFTER_QUEUEING
        await self._queue.put(request)
        self._wake()
        return await request.future

    async def stop(self) -> None:
        """Finish every queued append, then close the connection."""
        if self._task is not None and not self._task.done():
            self._stopping = True
            await self._queue.put(None)
            self._wake()
            await self._task
        self._fail_queued(StoreClosed("the PostgreSQL store closed before this append ran"))
        await self._take()  # a direct append still running finishes first
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 5)
            self._conn.terminate()

    # -- the direct path ------------------------------------------------------------------

    def _direct_ok(self) -> bool:
        """Whether an append may run on the connection now, from the caller's task."""
        conn = self._conn
        return (
            self._direct_enabled
            and not self._direct_pending
            and not self._busy
            and not self._carried
            and self._queue.empty()
            and not self._uncertain
            and not self._stopping
            and conn is not None
            and not conn.is_closed()
            and _now() >= self._locked_until
        )

    def _appending(self) -> bool:
        """Whether other appends hold the connection or wait (not the task's own NOTIFY)."""
        return (
            (self._busy and not self._own_statement)
            or self._direct_pending
            or bool(self._carried)
            or not self._queue.empty()
        )

    async def _direct(self, request: AppendRequest) -> AppendResult:
        """Run a lone append's statement from the caller's task (the writer task is idle).

        Only the plain outcome is handled here: an accepted append. A rejected append (maybe a
        retry of a stored one), a race, a stored id or a lost connection hand the request to
        the writer task, which decides it again with its usual handling of each case.
        """
        conn = self._conn
        assert conn is not None
        self._busy = True  # it was not (checked above)
        try:
            channel = self._notify_channel()
            try:
                before, first = await self._lone.append(conn, request, channel)
            except asyncio.CancelledError:
                # The statement may have committed or not (asyncpg cancels it on the server
                # and the connection waits for that before its next statement). No
                # transaction stays open: it was a single statement. The writer task looks
                # the head up, so subscribers of this process miss nothing.
                self._uncertain = True
                if channel is not None:
                    self._notify_owed = True
                raise
            except asyncpg.QueryCanceledError as exc:
                raise unavailable(
                    "append cancelled by the server after statement_timeout = "
                    f"{self._settings.statement_timeout} s (nothing was stored): {exc}",
                    exc,
                ) from exc
            except Exception as exc:
                if channel is not None:
                    self._notify_owed = True
                if isinstance(exc, asyncpg.UniqueViolationError):
                    if exc.constraint_name in _RACE_CONSTRAINTS:
                        self._raced()
                elif is_disconnect(exc):
                    self._drop_connection()
                first = None
            if first is not None:
                last = first + len(request.batch) - 1
                self._on_commit(last)
                return AppendResult(request.stream_id, before + len(request.batch), last, first)
            self._carried.appendleft(request)
        finally:
            self._release()
            if self._uncertain or (self._notify_owed and not self._waiting_timed):
                self._wake()  # the writer task settles, or sends the owed NOTIFY in time
        self._wake()
        return await request.future

    async def _take(self) -> None:
        """Wait until no direct append uses the connection, then hold it (the writer task)."""
        while self._busy:
            freed = self._freed = asyncio.get_running_loop().create_future()
            try:
                await freed
            finally:
                self._freed = None
        self._busy = True

    def _release(self) -> None:
        self._busy = False
        _resolve(self._freed)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the task -------------------------------------------------------------------------

    async def _run(self) -> None:
        stopping = False
        while not stopping or self._carried:
            first = await self._next()
            if first is None:
                stopping = True
                continue
            await self._take()  # waits for a direct append still running
            try:
                group, saw_end = self._group(first)
                stopping = stopping or saw_end
                try:
                    await self._commit_group(group)
                except Exception as exc:  # a bug must not leave callers waiting or stop it
                    deliver(group, unavailable(f"append failed unexpectedly: {exc!r}", exc))
            finally:
                self._release()
        # The owed wake-up, so other processes do not wait for their next poll.
        await self._take()
        try:
            if self._uncertain:
                with contextlib.suppress(Exception):
                    await self._settle()
            if self._notify_owed:
                with contextlib.suppress(Exception):
                    await self._notify()
        finally:
            self._release()

    async def _next(self) -> AppendRequest | None:
        """The next request; meanwhile, the owed NOTIFY when it is due."""
        loop = asyncio.get_running_loop()
        while True:
            if self._carried:
                return self._carried.popleft()
            with contextlib.suppress(asyncio.QueueEmpty):
                return self._queue.get_nowait()
            interval = self._settings.notify_interval
            deadline: float | None = None
            if self._uncertain or (self._notify_owed and interval is not None):
                deadline = self._last_notify + (interval or 0.0)
                if self._uncertain or loop.time() >= deadline:
                    await self._catch_up()
                    continue
            waiter = self._waiter = loop.create_future()
            timer = None if deadline is None else loop.call_at(deadline, _resolve, waiter)
            self._waiting_timed = timer is not None
            try:
                await waiter
            finally:
                self._waiter = None
                self._waiting_timed = False
                if timer is not None:
                    timer.cancel()

    async def _catch_up(self) -> None:
        """Settle a cancelled direct append, send the owed NOTIFY."""
        if self._busy or self._direct_pending:
            # A direct append is running or about to: when it is done, give its caller a turn
            # of the loop to start the next one, which carries the NOTIFY if it is still owed.
            await self._take()
            self._release()
            await asyncio.sleep(0)
            return
        self._busy = self._own_statement = True
        try:
            try:
                if self._uncertain:
                    await self._settle()
                if self._notify_owed and _now() >= self._last_notify + (
                    self._settings.notify_interval or 0.0
                ):
                    await self._notify()
            except Exception:
                # Given up: the next append reconnects; pollers (here and elsewhere) cover us.
                self._uncertain = self._notify_owed = False
                self._drop_connection()
        finally:
            self._own_statement = False
            self._release()

    async def _settle(self) -> None:
        """After a cancelled direct append: tell this process's subscribers the head."""
        conn = await self._connection()
        self._uncertain = False
        head = await conn.fetchval(self._sql.head)
        if head:
            self._on_commit(head)

    def _group(self, first: AppendRequest) -> tuple[list[AppendRequest], bool]:
        """The requests waiting now, in order, within the group limits.

        A request sharing an event id with an earlier one of the group waits for the next
        group, where it finds the earlier one committed (or not) and is answered accordingly.
        """
        settings = self._settings
        group = [first]
        ids = {event.id for event in first.batch}
        events = len(first.batch)
        while len(group) < settings.max_group_requests and not self._carried:
            try:
                more = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if more is None:
                return group, True
            more_ids = {event.id for event in more.batch}
            if events + len(more.batch) > settings.max_group_events or not ids.isdisjoint(more_ids):
                self._carried.append(more)
                break
            group.append(more)
            ids |= more_ids
            events += len(more.batch)
        return group, False

    async def _notify(self) -> None:
        conn = await self._connection()
        self._last_notify = _now()
        self._notify_owed = False
        await conn.execute("SELECT pg_notify($1, '')", self._sql.channel)

    def _notify_channel(self) -> str | None:
        """The channel to notify in this commit, or ``None`` when a recent one is still fresh."""
        interval = self._settings.notify_interval
        if interval is None:
            return None
        now = _now()
        if now - self._last_notify >= interval:
            self._last_notify = now
            self._notify_owed = False
            return self._sql.channel
        self._notify_owed = True
        return None

    # -- one group ------------------------------------------------------------------------

    async def _commit_group(self, group: list[AppendRequest]) -> None:
        pending = group
        deadline: float | None = None
        delay = 0.02
        while pending:
            try:
                pending = await self._attempt(pending)
                deadline = None
            except asyncpg.UniqueViolationError as exc:
                # Nothing of the call was stored. A position or a version collides when a
                # lock-free single append (below) raced another process's commit: decide again,
                # under the lock. An event id collides when a batch was stored before: handle
                # the stored ids, then call again with the rest.
                if exc.constraint_name in _RACE_CONSTRAINTS:
                    self._raced()
                    continue
                if exc.constraint_name != _ID_CONSTRAINT:
                    deliver(pending, unavailable(f"unexpected constraint violation: {exc}", exc))
                    return
                try:
                    pending = await self._answer_stored(pending)
                except Exception as inner:
                    if not is_disconnect(inner):
                        deliver(pending, unavailable(f"append failed: {inner}", inner))
                        return
                    self._drop_connection()
            except _HookFailed as failed:
                self._notify_owed = True  # the rolled-back call's NOTIFY was not sent
                deliver_each([(failed.request, failed.error)])
                pending = [request for request in pending if request is not failed.request]
            except asyncpg.QueryCanceledError as exc:
                deliver(
                    pending,
                    unavailable(
                        "append cancelled by the server after statement_timeout = "
                        f"{self._settings.statement_timeout} s (nothing was stored): {exc}",
                        exc,
                    ),
                )
                return
            except Exception as exc:
                if not is_disconnect(exc):
                    deliver(pending, unavailable(f"append failed: {exc}", exc))
                    return
                self._drop_connection()
                now = _now()
                if deadline is None:
                    deadline = now + self._settings.reconnect_timeout
                if now >= deadline:
                    deliver(
                        pending,
                        unavailable(
                            "lost the connection to PostgreSQL during an append and could not "
                            f"reconnect within {self._settings.reconnect_timeout} s ({exc}). "
                            "The batch was stored whole or not at all; append the same events "
                            "(same ids) again to find out, which is safe",
                            exc,
                        ),
                    )
                    return
                await asyncio.sleep(min(delay, max(deadline - now, 0.0)))
                delay = min(delay * 2, 1.0)
            except BaseException:  # cancelled: the callers must not hang
                deliver(pending, StoreClosed("the PostgreSQL writer stopped"))
                raise

    async def _attempt(self, pending: list[AppendRequest]) -> list[AppendRequest]:
        """Call ``append_group`` once; answer what it decided. Returns what is left to do."""
        conn = await self._connection()
        channel = self._notify_channel()
        hook = self._on_commit_rows
        if hook is not None:  # inline projections: append_group and the hook, one transaction
            arguments = group_arguments(self._sql.append_key, pending, channel)
            rows = await self._append_with_hook(conn, pending, arguments, hook)
        elif len(pending) == 1 and _now() >= self._locked_until:
            rows = [await self._lone.append(conn, pending[0], channel)]
        else:
            rows = await conn.fetch(
                self._sql.append_group, *group_arguments(self._sql.append_key, pending, channel)
            )
        accepted: list[tuple[AppendRequest, Outcome]] = []
        rejected: list[tuple[AppendRequest, int]] = []
        head = 0
        for request, row in zip(pending, rows, strict=True):
            before, first = row[0], row[1]
            if first is None:
                rejected.append((request, before))
                continue
            count = len(request.batch)
            last = first + count - 1
            head = max(head, last)
            accepted.append((request, AppendResult(request.stream_id, before + count, last, first)))
        if head:
            self._lone.learn_head(head)  # a lone append learns its stream's version itself
            self._on_commit(head)
        deliver_each(accepted)
        if not rejected:
            return []
        # A rejected batch may be a retry of one already stored: then it gets its original result.
        try:
            stored = await stored_events(
                conn, self._sql.stored_by_ids, [r.batch for r, _ in rejected]
            )
        except Exception as exc:
            if not is_disconnect(exc):
                raise
            self._drop_connection()
            return [request for request, _ in rejected]  # decided again on the next attempt
        deliver_each(answer_rejected(rejected, stored))
        return []

    async def _append_with_hook(
        self,
        conn: asyncpg.Connection,
        pending: list[AppendRequest],
        arguments: list[Any],
        hook: CommitRowsHook,
    ) -> list[Any]:
        """``append_group`` and the hook on each accepted append, in one transaction."""
        async with conn.transaction():
            rows: list[Any] = await conn.fetch(self._sql.append_group, *arguments)
            accepted = [
                (request, first)
                for request, (_, first) in zip(pending, rows, strict=True)
                if first is not None
            ]
            if not accepted:
                return rows
            low = accepted[0][1]
            high = accepted[-1][1] + len(accepted[-1][0].batch) - 1
            make = RowDecoder().event
            recorded = [make(*row) for row in await conn.fetch(self._sql.read_range, low, high)]
            for request, first in accepted:
                events = recorded[first - low : first - low + len(request.batch)]
                try:
                    await hook(conn, events)
                except Exception as exc:
                    if is_disconnect(exc):
                        raise
                    raise _HookFailed(request, exc) from exc
        return rows

    async def _answer_stored(self, pending: list[AppendRequest]) -> list[AppendRequest]:
        conn = await self._connection()
        stored = await stored_events(conn, self._sql.stored_by_ids, [r.batch for r in pending])
        answers, left = answer_retries(pending, stored)
        deliver_each(answers)
        if len(left) == len(pending):
            # The violation came from ids nobody stored: a bug, not something to loop on.
            deliver(left, StoreUnavailable("event id conflict that no stored event explains"))
            return []
        return left

    def _raced(self) -> None:
        """A lock-free append lost a race with another process: lock for a while."""
        self._locked_until = _now() + _LOCKED_AFTER_RACE

    # -- the connection -------------------------------------------------------------------

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._drop_connection()
            self._conn = await self._connect()
        return self._conn

    def _drop_connection(self) -> None:
        self._lone.forget()
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    def _fail_queued(self, error: BaseException) -> None:
        left = list(self._carried)
        self._carried.clear()
        while True:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if item is not None:
                left.append(item)
        deliver(left, error)


def _now() -> float:
    return asyncio.get_running_loop().time()


def _resolve(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
