"""The PostgreSQL event store: the production backend."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from ...events import AppendResult, ExpectedVersion, RecordedEvent, StoreUnavailable
from ..base import Link, StoreBase
from ..catalog import StreamInfo, listing_bounds, stream_info
from ..encoding import EncodedEvent, RowDecoder
from ..limits import StoreLimits
from .connection import (
    PostgresSettings,
    is_disconnect,
    open_connection,
    open_pool,
    quote_ident,
    settings_from_url,
)
from .listener import NotificationListener
from .lookups import Lookups
from .schema import migrate
from .statements import Statements
from .writer import AppendRequest, CommitRowsHook, PostgresWriter

__all__ = ["PostgresEventStore"]

_MAX_VERSION = 2**63 - 1


class PostgresEventStore(StoreBase):
    """An event store in a PostgreSQL schema, shared by any number of processes and hosts.

    Open it with ``await fs.connect("postgresql://user@host:5432/db?schema=events")`` or
    :meth:`open`. Use it from one event loop.

    Appends go through one writer connection that commits whatever appends are waiting in one
    transaction (group commit); reads use a pool. Positions are allocated under a
    transaction-scoped advisory lock, so they increase in commit order and a reader never
    passes an event that has yet to commit. See ``docs/postgres.md``.
    """

    def __init__(
        self,
        settings: PostgresSettings,
        limits: StoreLimits | None = None,
        on_commit_rows: CommitRowsHook | None = None,
    ) -> None:
        super().__init__(limits)
        self.settings = settings
        self.poll_interval = settings.poll_interval
        self._sql = Statements.for_schema(settings.schema)
        self._has_hook = on_commit_rows is not None
        self._lookups = Lookups.for_schema(settings.schema)
        self._writer = PostgresWriter(
            settings, self._sql, self._connect_writer, self._notifier.advance, on_commit_rows
        )
        self._listener = NotificationListener(
            self._connect_listener, self._sql.channel, self._notifier.poke, self._writer_pid
        )
        self._pool: asyncpg.Pool | None = None
        self._decoder = RowDecoder()

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        limits: StoreLimits | None = None,
        on_commit_rows: CommitRowsHook | None = None,
        **options: Any,
    ) -> PostgresEventStore:
        """Connect, create or migrate the schema, and start the writer.

        ``url`` is a ``postgresql://`` URL; its query may carry the fields of
        :class:`PostgresSettings` (``?schema=NAME``), and keyword options override them.
        ``on_commit_rows`` is called in each append's transaction, before COMMIT, with the
        writer's connection (its ``search_path`` is the store's schema) and the append's
        recorded events (inline projections, see ``writer.py``).

        Raises:
            StoreUnavailable: the server cannot be reached.
        """
        store = cls(settings_from_url(url, **options), limits, on_commit_rows)
        try:
            try:
                writer_conn = await store._connect_writer()
                try:
                    if store.settings.migrate:
                        await migrate(writer_conn, store.settings.schema)
                except BaseException:
                    writer_conn.terminate()
                    raise
                store._writer.start(writer_conn)
                store._pool = await open_pool(store.settings)
            except Exception as exc:
                if is_disconnect(exc):
                    raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
                raise
            store._notifier.advance(await store.head_position())
        except BaseException:
            await store._close()
            raise
        return store

    async def _connect_writer(self) -> asyncpg.Connection:
        conn = await open_connection(self.settings, "writer")
        if self._has_hook:  # the hook's SQL names the schema's tables plainly
            try:
                await conn.execute(f"SET search_path TO {quote_ident(self.settings.schema)}")
            except BaseException:
                conn.terminate()
                raise
        return conn

    async def _connect_listener(self) -> asyncpg.Connection:
        return await open_connection(self.settings, "listener")

    def _writer_pid(self) -> int | None:
        conn = self._writer.connection
        return conn.get_server_pid() if conn is not None else None

    # -- appends --------------------------------------------------------------------------

    async def _append(
        self, stream_id: str, batch: list[EncodedEvent], expected: ExpectedVersion
    ) -> AppendResult:
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        return await self._writer.append(AppendRequest(stream_id, batch, expected, future))

    # -- reads ----------------------------------------------------------------------------

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        """Run a read, retrying lost connections for ``reconnect_timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        delay = 0.02
        while True:
            self._check_open()
            pool = self._pool
            assert pool is not None
            try:
                rows: list[Any] = await pool.fetch(sql, *args)
                return rows
            except asyncpg.QueryCanceledError as exc:
                raise StoreUnavailable(
                    f"read cancelled after statement_timeout = {self.settings.statement_timeout} s:"
                    f" {exc}"
                ) from exc
            except Exception as exc:
                if not is_disconnect(exc):
                    raise
                await pool.expire_connections()  # after a restart they are all dead: open new ones
                now = loop.time()
                if deadline is None:
                    deadline = now + self.settings.reconnect_timeout
                if now >= deadline:
                    raise StoreUnavailable(
                        "cannot reach PostgreSQL (retried for "
                        f"{self.settings.reconnect_timeout} s): {exc}"
                    ) from exc
                await asyncio.sleep(min(delay, deadline - now))
                delay = min(delay * 2, 1.0)

    async def _events(self, sql: str, *args: Any) -> list[RecordedEvent]:
        make = self._decoder.event
        return [make(*row) for row in await self._fetch(sql, *args)]

    async def _read_stream(
        self, stream_id: str, from_version: int | None, limit: int | None, backwards: bool
    ) -> list[RecordedEvent]:
        if backwards:
            start = _MAX_VERSION if from_version is None else from_version
            return await self._events(self._sql.read_backward, stream_id, start, limit)
        start = 1 if from_version is None else from_version
        return await self._events(self._sql.read_forward, stream_id, start, limit)

    async def _read_all_page(self, from_position: int, limit: int) -> list[RecordedEvent]:
        return await self._events(self._sql.read_all, from_position, limit)

    # -- lookups (store/catalog.py) -------------------------------------------------------

    async def _list_streams(self, prefix: str, after: str, limit: int) -> list[StreamInfo]:
        low, strict, high = listing_bounds(prefix, after)
        sql = self._lookups.list_streams[strict, high is not None]
        bounds = (low, prefix, limit) if high is None else (low, prefix, limit, high)
        found = await self._events(sql, *bounds)
        return [stream_info(last) for last in found]

    async def _event_at(self, position: int) -> RecordedEvent | None:
        found = await self._events(self._lookups.by_position, position)
        return found[0] if found else None

    async def _event_by_id(self, event_id: uuid.UUID) -> RecordedEvent | None:
        found = await self._events(self._lookups.by_id, event_id)
        return found[0] if found else None

    async def _events_linked(
        self, link: Link, value: str, from_position: int, limit: int
    ) -> list[RecordedEvent]:
        return await self._events(self._lookups.linked[link], value, from_position, limit)

    async def stream_version(self, stream_id: str) -> int:
        rows = await self._fetch(self._sql.stream_version, stream_id)
        return int(rows[0][0]) if rows else 0

    async def head_position(self) -> int:
        rows = await self._fetch(self._sql.head)
        return int(rows[0][0]) if rows else 0

    # -- other processes' commits ---------------------------------------------------------

    def _subscription_started(self) -> None:
        # One LISTEN connection, from the first subscription until the store closes.
        if not self.closed:
            self._listener.start()

    # -- closing --------------------------------------------------------------------------

    async def _close(self) -> None:
        await self._listener.stop()
        await self._writer.stop()
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), 10)
            except Exception:
                self._pool.terminate()
            self._pool = None
