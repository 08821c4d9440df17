"""The dead-letter store: events a projection could not apply, parked per stream in order.

When a handler keeps failing on an event (after the retry policy), the runner parks it, and
every later event of the same stream, here; the other streams go on. Parked events are
listed, inspected, retried (the runner replays a stream's parked events in order, within a
second or so) or skipped, through :class:`DeadLetters` or ``factstream dlq``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

import msgspec

from ..events import RecordedEvent
from .generations import generations
from .readmodels.sql import SqlSession, SqlTarget, SqlTransaction

if TYPE_CHECKING:
    from .targets import Target

__all__ = ["DeadLetter", "DeadLetters", "ParkedStream"]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(RecordedEvent).decode

_COLUMNS = (
    "name, generation, position, stream_id, event_id, event_type, event, error, attempts, "
    "parked_at, retry_requested"
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A parked event.

    Attributes:
        projection: the projection's name.
        generation: the read model's generation that parked it.
        event: the event as recorded.
        error: the last error (``None`` when it is parked only because an earlier event of
            its stream is).
        attempts: how many times it was tried.
        parked_at: when it was parked (UTC).
        retry_requested: a retry was asked for and the runner has not done it yet.
    """

    projection: str
    generation: int
    event: RecordedEvent
    error: str | None
    attempts: int
    parked_at: dt.datetime
    retry_requested: bool

    @property
    def position(self) -> int:
        return self.event.position

    @property
    def stream_id(self) -> str:
        return self.event.stream_id


@dataclass(frozen=True, slots=True)
class ParkedStream:
    """A stream with parked events: how many, from which position, and why."""

    stream_id: str
    count: int
    first_position: int
    error: str | None


def _dead_letter(row: Sequence[Any]) -> DeadLetter:
    name, generation, _, _, _, _, event, error, attempts, parked_at, retry = row
    when = dt.datetime.fromtimestamp(float(parked_at), dt.UTC)
    raw = event.encode() if isinstance(event, str) else event
    return DeadLetter(name, int(generation), _decode(raw), error, int(attempts), when, bool(retry))


def park(
    tx: SqlTransaction,
    name: str,
    generation: int,
    event: RecordedEvent,
    error: str | None,
    attempts: int,
) -> None:
    """Queue the parking of ``event`` in the batch's transaction."""
    now = tx._names.dialect.now
    tx.execute(
        f"INSERT INTO factstream_dead_letters ({_COLUMNS}) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, {now}, 0) "
        "ON CONFLICT (name, generation, position) DO UPDATE SET error = excluded.error, "
        "attempts = excluded.attempts, retry_requested = 0",
        (
            name,
            generation,
            event.position,
            event.stream_id,
            str(event.id),
            event.type,
            _encode(event).decode(),
            error,
            attempts,
        ),
    )


def unpark(tx: SqlTransaction, name: str, generation: int, position: int) -> None:
    """Queue the removal of a parked event (it was applied after a retry)."""
    tx.execute(
        "DELETE FROM factstream_dead_letters WHERE name = ? AND generation = ? AND position = ?",
        (name, generation, position),
    )


async def parked_streams(session: SqlSession, name: str, generation: int) -> set[str]:
    rows = await session.query(
        session.dialect.convert(
            "SELECT DISTINCT stream_id FROM factstream_dead_letters "
            "WHERE name = ? AND generation = ?"
        ),
        (name, generation),
    )
    return {row[0] for row in rows}


async def retry_requests(session: SqlSession, name: str, generation: int) -> list[str]:
    rows = await session.query(
        session.dialect.convert(
            "SELECT stream_id, min(position) FROM factstream_dead_letters "
            "WHERE name = ? AND generation = ? AND retry_requested = 1 "
            "GROUP BY stream_id ORDER BY 2"
        ),
        (name, generation),
    )
    return [row[0] for row in rows]


async def parked_in_stream(
    session: SqlSession, name: str, generation: int, stream_id: str
) -> list[DeadLetter]:
    rows = await session.query(
        session.dialect.convert(
            f"SELECT {_COLUMNS} FROM factstream_dead_letters "
            "WHERE name = ? AND generation = ? AND stream_id = ? ORDER BY position"
        ),
        (name, generation, stream_id),
    )
    return [_dead_letter(row) for row in rows]


class DeadLetters:
    """List, inspect, retry and skip a projection's parked events.

    Use it as an async context manager; it opens its own connection to the read model's
    database (SQL or Redis) and works on the active generation::

        async with fs.DeadLetters(target, "orders_by_customer") as dlq:
            for stream in await dlq.streams():
                print(stream.stream_id, stream.count, stream.error)
            await dlq.retry("order-17")

    Retrying only marks the stream's parked events; the projection's runner replays them in
    order (within its maintenance interval, about a second) and removes those that apply.
    """

    def __init__(self, target: Target, projection: str, generation: int | None = None):
        self._target = target
        self._name = projection
        self._generation = generation
        self._letters: _Letters | None = None

    async def __aenter__(self) -> Self:
        if isinstance(self._target, SqlTarget):
            self._letters = await _SqlLetters.open(self._target, self._name, self._generation)
        else:
            from .readmodels.redis_letters import RedisLetters

            self._letters = await RedisLetters.open(self._target, self._name)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._letters is not None:
            letters, self._letters = self._letters, None
            await letters.close()

    def _open(self) -> _Letters:
        if self._letters is None:
            raise RuntimeError("use DeadLetters with 'async with'")
        return self._letters

    async def streams(self) -> list[ParkedStream]:
        """The streams with parked events, the one parked first first."""
        return await self._open().streams()

    async def list(self, stream_id: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Parked events in position order, all or one stream's."""
        return await self._open().list(stream_id, limit)

    async def show(self, position: int) -> DeadLetter | None:
        """The parked event at ``position``, or ``None``."""
        return await self._open().show(position)

    async def retry(self, stream_id: str) -> int:
        """Ask the runner to replay ``stream_id``'s parked events in order.

        Returns:
            How many parked events were marked.
        """
        return await self._open().retry(stream_id)

    async def retry_all(self) -> int:
        """Ask the runner to retry every parked stream. Returns how many events were marked."""
        return await self._open().retry_all()

    async def skip(self, position: int) -> bool:
        """Drop the parked event at ``position`` without applying it.

        The stream stays parked while it has other parked events; retry them to go on.

        Returns:
            Whether there was such a parked event.
        """
        return await self._open().skip(position)


class _Letters(Protocol):
    """Where a projection's dead letters are: SQL tables or a Redis hash."""

    async def streams(self) -> list[ParkedStream]: ...
    async def list(self, stream_id: str | None, limit: int) -> list[DeadLetter]: ...
    async def show(self, position: int) -> DeadLetter | None: ...
    async def retry(self, stream_id: str) -> int: ...
    async def retry_all(self) -> int: ...
    async def skip(self, position: int) -> bool: ...
    async def close(self) -> None: ...


class _SqlLetters:
    """Dead letters in ``factstream_dead_letters``, one generation's."""

    def __init__(self, session: SqlSession, name: str, generation: int) -> None:
        self._session = session
        self._name = name
        self._generation = generation

    @classmethod
    async def open(cls, target: SqlTarget, name: str, generation: int | None) -> _SqlLetters:
        session = await target.connect()
        try:
            await session.migrate()
            if generation is None:
                active = [g for g in await generations(session, name) if g.state == "active"]
                generation = active[-1].number if active else 1
        except BaseException:
            await session.close()
            raise
        return cls(session, name, generation)

    def _open(self) -> tuple[SqlSession, int]:
        return self._session, self._generation

    async def close(self) -> None:
        await self._session.close()

    async def streams(self) -> list[ParkedStream]:
        session, generation = self._open()
        rows = await session.query(
            session.dialect.convert(
                "SELECT stream_id, count(*), min(position), "
                "max(CASE WHEN error IS NULL THEN NULL ELSE error END) "
                "FROM factstream_dead_letters WHERE name = ? AND generation = ? "
                "GROUP BY stream_id ORDER BY 3"
            ),
            (self._name, generation),
        )
        return [ParkedStream(s, int(c), int(p), e) for s, c, p, e in rows]

    async def list(self, stream_id: str | None = None, limit: int = 100) -> list[DeadLetter]:
        session, generation = self._open()
        if stream_id is not None:
            return (await parked_in_stream(session, self._name, generation, stream_id))[:limit]
        rows = await session.query(
            session.dialect.convert(
                f"SELECT {_COLUMNS} FROM factstream_dead_letters "
                "WHERE name = ? AND generation = ? ORDER BY position LIMIT ?"
            ),
            (self._name, generation, limit),
        )
        return [_dead_letter(row) for row in rows]

    async def show(self, position: int) -> DeadLetter | None:
        session, generation = self._open()
        rows = await session.query(
            session.dialect.convert(
                f"SELECT {_COLUMNS} FROM factstream_dead_letters "
                "WHERE name = ? AND generation = ? AND position = ?"
            ),
            (self._name, generation, position),
        )
        return _dead_letter(rows[0]) if rows else None

    async def retry(self, stream_id: str) -> int:
        session, generation = self._open()
        return await session.execute(
            session.dialect.convert(
                "UPDATE factstream_dead_letters SET retry_requested = 1 "
                "WHERE name = ? AND generation = ? AND stream_id = ?"
            ),
            (self._name, generation, stream_id),
        )

    async def retry_all(self) -> int:
        session, generation = self._open()
        return await session.execute(
            session.dialect.convert(
                "UPDATE factstream_dead_letters SET retry_requested = 1 "
                "WHERE name = ? AND generation = ?"
            ),
            (self._name, generation),
        )

    async def skip(self, position: int) -> bool:
        session, generation = self._open()
        return bool(
            await session.execute(
                session.dialect.convert(
                    "DELETE FROM factstream_dead_letters "
                    "WHERE name = ? AND generation = ? AND position = ?"
                ),
                (self._name, generation, position),
            )
        )
