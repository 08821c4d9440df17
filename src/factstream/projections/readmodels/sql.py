"""SQL read models: the transaction handlers write through, and the session port under it.

Handlers queue writes with :meth:`SqlTransaction.execute`; the queue is sent when the batch
commits (or before a read), with runs of the same statement sent as one ``executemany``. This
makes a batch one or two round trips to the database however many events it holds.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .dialect import Dialect

__all__ = ["Guard", "Op", "Row", "SqlSession", "SqlTarget", "SqlTransaction", "TableNames"]

Row = tuple[Any, ...]
Op = tuple[str, Sequence[Any]]
Guard = tuple[str, Sequence[Any], Callable[[list[Row]], None]]
"""A query run first in a transaction, and a check of its rows that raises to roll back."""
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class TableNames:
    """Maps a projection's logical table names to one generation's physical tables, and
    prepares statements (``{orders}`` -> ``orders_g2``, ``?`` -> ``$1`` on PostgreSQL)."""

    def __init__(self, dialect: Dialect, physical: Mapping[str, str]) -> None:
        self.dialect = dialect
        self.physical = dict(physical)
        self._prepared: dict[str, str] = {}

    def prepare(self, sql: str) -> str:
        prepared = self._prepared.get(sql)
        if prepared is None:
            physical = self.physical
            named = _PLACEHOLDER.sub(lambda m: physical.get(m.group(1), m.group(0)), sql)
            prepared = self._prepared[sql] = self.dialect.convert(named)
        return prepared


def physical_tables(logical: Iterable[str], generation: int) -> dict[str, str]:
    """The physical table of each logical table in ``generation``."""
    return {name: f"{name}_g{generation}" for name in logical}


class SqlSession(abc.ABC):
    """One connection to a SQL database, used by one task at a time.

    Statements use the database's own placeholders; callers prepare them first.
    """

    dialect: Dialect

    @abc.abstractmethod
    async def begin(self, guard: Guard | None = None) -> None:
        """Begin a write transaction, then run ``guard``'s query and check (rolling back
        when the check raises)."""

    @abc.abstractmethod
    async def run(self, ops: Sequence[Op]) -> None:
        """Execute ``ops`` in order inside the open transaction."""

    @abc.abstractmethod
    async def fetch(self, ops: Sequence[Op], sql: str, params: Sequence[Any]) -> list[Row]:
        """Execute ``ops``, then the query ``sql``; return its rows."""

    @abc.abstractmethod
    async def commit(self, ops: Sequence[Op], begin: Guard | None = None) -> None:
        """Execute ``ops``, then commit. With ``begin``, the transaction is not open yet:
        begin it and run the guard first (all in one round trip where the database allows)."""

    @abc.abstractmethod
    async def rollback(self) -> None: ...

    @abc.abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; return the number of rows changed."""

    @abc.abstractmethod
    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one query outside any batch."""

    @abc.abstractmethod
    async def migrate(self) -> None:
        """Create or update factstream's own read-side tables."""

    @abc.abstractmethod
    def is_transient(self, error: BaseException) -> bool:
        """Whether ``error`` is the database being unavailable or busy (retry the batch as it
        is, never blame an event), rather than something a handler did."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class SqlTarget(abc.ABC):
    """Where a SQL read model lives. :class:`SqliteTarget` and :class:`PostgresTarget`."""

    @abc.abstractmethod
    async def connect(self) -> SqlSession:
        """Open a new session (connection) to the database."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A short, password-free description for logs and the CLI."""


class SqlTransaction:
    """The transaction a SQL projection's handlers write through.

    Writes are queued and sent in order when the batch commits or before the next read, so a
    failing write surfaces at the end of the batch (the runner then finds the event that
    caused it). Everything a batch does commits together with the projection's checkpoint.

    Attributes:
        dialect: ``"sqlite"`` or ``"postgres"``, for the rare statement that must differ.
    """

    def __init__(self, session: SqlSession, names: TableNames) -> None:
        self._session = session
        self._names = names
        self._ops: list[Op] = []
        self._begun = False
        self._after_commit: list[Callable[[], Any]] = []
        self._guard: Guard | None = None
        self.dialect = names.dialect.name

    def table(self, name: str) -> str:
        """The physical table behind the logical table ``name`` in this generation.

        Raises:
            KeyError: the projection declares no such table.
        """
        return self._names.physical[name]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queue one statement. ``{table}`` names the projection's tables; ``?`` marks
        parameters on both databases."""
        self._ops.append((self._names.prepare(sql), params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Queue one statement per parameter row."""
        prepared = self._names.prepare(sql)
        self._ops.extend((prepared, row) for row in rows)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Send the queued writes, then run the query ``sql`` in the same transaction."""
        await self._ensure_begun()
        ops, self._ops = self._ops, []
        return await self._session.fetch(ops, self._names.prepare(sql), params)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of :meth:`fetch`, or ``None``."""
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row of :meth:`fetch`, or ``None``."""
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    def after_commit(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` (a function or coroutine function) once the batch has committed,
        e.g. to invalidate a cache. It is not called when the batch rolls back."""
        self._after_commit.append(callback)

    # -- used by the runner ---------------------------------------------------------------

    def _set_guard(self, guard: Guard) -> None:
        """Run ``guard`` when the transaction begins. The transaction begins at the first
        read or at commit, so a handler that waits holds no lock while it waits."""
        self._guard = guard

    async def _ensure_begun(self) -> None:
        if not self._begun:
            self._begun = True
            try:
                await self._session.begin(self._guard)
            except BaseException:
                self._begun = False
                raise

    async def _flush(self) -> None:
        await self._ensure_begun()
        ops, self._ops = self._ops, []
        if ops:
            await self._session.run(ops)

    def _queue_raw(self, sql: str, params: Sequence[Any]) -> None:
        self._ops.append((sql, params))

    async def _commit(self) -> list[Callable[[], Any]]:
        ops, self._ops = self._ops, []
        if self._begun:
            await self._session.commit(ops)
        else:
            await self._session.commit(ops, begin=self._guard or ("SELECT 1", (), _accept))
        self._begun = False
        callbacks, self._after_commit = self._after_commit, []
        return callbacks

    async def _rollback(self) -> None:
        self._ops = []
        self._after_commit = []
        if self._begun:
            self._begun = False
            await self._session.rollback()

    def _discard_queued(self) -> None:
        self._ops = []


def _accept(rows: list[Row]) -> None:
    return None
