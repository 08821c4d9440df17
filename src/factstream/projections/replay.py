"""Replay: run a projection (or process manager) over a recorded log, or a slice of it, into
a scratch generation of its read model, and compare the result with the live generation.

For tests and debugging: "what would this version of the handlers have built from last
Tuesday's events?", "does the live read model still match the log?". The scratch generation
lives next to the live one (tables ``orders_g7``), invisible to queries, and is dropped after
the comparison unless kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..events import RecordedEvent
from ..store import EventStore
from .generations import Generation, create_generation, generations
from .projection import Projection
from .readmodels.sql import Row, SqlSession, SqlTarget, TableNames, physical_tables
from .readmodels.sqlmodel import open_sql_read_model

__all__ = [
    "EventSlice",
    "ReadModelDiff",
    "ReplayResult",
    "TableDiff",
    "compare",
    "drop_generation",
    "read_slice",
    "replay",
]


@dataclass(frozen=True, slots=True)
class EventSlice:
    """Which recorded events a replay sees (all conditions hold; ``None`` is no limit).

    Attributes:
        from_position / to_position: positions, both included.
        since / until: commit times (UTC), ``since`` included, ``until`` excluded.
        stream: one stream's events only.
    """

    from_position: int = 1
    to_position: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    stream: str | None = None

    def matches(self, event: RecordedEvent) -> bool:
        if event.position < self.from_position:
            return False
        if self.to_position is not None and event.position > self.to_position:
            return False
        if self.since is not None and event.timestamp < self.since:
            return False
        if self.until is not None and event.timestamp >= self.until:
            return False
        return self.stream is None or event.stream_id == self.stream


async def read_slice(
    source: EventStore | Iterable[RecordedEvent], selection: EventSlice | None = None
) -> AsyncIterator[RecordedEvent]:
    """The events of ``source`` (a store, or recorded events in position order) that
    ``selection`` picks, in position order."""
    chosen = selection or EventSlice()
    if not isinstance(source, EventStore):
        for event in source:
            if chosen.matches(event):
                yield event
        return
    if chosen.stream is not None:
        for event in await source.read(chosen.stream):
            if chosen.matches(event):
                yield event
        return
    async for event in source.read_all(chosen.from_position):
        if chosen.to_position is not None and event.position > chosen.to_position:
            return
        if chosen.matches(event):
            yield event


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay built.

    Attributes:
        generation: the scratch generation holding the result.
        events: how many events of the slice were applied (those the projection handles).
        last_position: the position of the last event of the slice (0 for none).
    """

    projection: str
    generation: int
    events: int
    last_position: int


async def replay(
    source: EventStore | Iterable[RecordedEvent],
    projection: Projection[Any],
    target: SqlTarget,
    selection: EventSlice | None = None,
    *,
    batch_size: int = 1000,
) -> ReplayResult:
    """Apply the events ``selection`` picks from ``source`` to a new scratch generation of
    ``projection``'s read model at ``target``.

    Handlers run as in a runner, in batches, but a failure raises (with the event's
    position) instead of parking: a replay is for looking closely. Run a process manager
    with a :class:`RecordingDispatcher` to see the commands it would send.

    Raises:
        ReplayFailed: a handler failed on an event.
    """
    session = await target.connect()
    try:
        await session.migrate()
        generation = await create_generation(session, projection, state="building")
    finally:
        await session.close()
    model = await open_sql_read_model(target, projection, generation.number)
    applied = last = checkpoint = 0
    pending: list[RecordedEvent] = []

    async def flush() -> None:
        nonlocal applied, checkpoint
        batch = model.transaction()
        handled = [e for e in pending if projection.handles_event(e)]
        try:
            await batch.begin({0: checkpoint})
            try:
                await projection.apply(handled, batch.handle)
            except Exception as exc:
                raise ReplayFailed(
                    f"replay of {projection.name!r} failed in the batch of positions "
                    f"{pending[0].position}..{pending[-1].position}: {exc!r}"
                ) from exc
            batch.advance({0: pending[-1].position})
            await batch.commit()
        except BaseException:
            await batch.rollback()
            raise
        applied += len(handled)
        checkpoint = pending[-1].position
        pending.clear()

    try:
        async for event in read_slice(source, selection):
            pending.append(event)
            last = event.position
            if len(pending) >= batch_size:
                await flush()
        if pending:
            await flush()
    finally:
        await model.close()
    return ReplayResult(projection.name, generation.number, applied, last)


class ReplayFailed(Exception):
    """A handler raised during a replay (the cause is chained)."""


@dataclass(frozen=True, slots=True)
class TableDiff:
    """One logical table compared between the live and the replayed generation, keyed by
    its first column.

    Attributes:
        only_live / only_replay: keys present on one side only.
        changed: keys whose rows differ.
        samples: up to five ``(key, live row, replayed row)`` of the differences.
    """

    table: str
    live_rows: int
    replay_rows: int
    only_live: int
    only_replay: int
    changed: int
    samples: tuple[tuple[Any, Row | None, Row | None], ...]

    @property
    def same(self) -> bool:
        return not (self.only_live or self.only_replay or self.changed)


@dataclass(frozen=True, slots=True)
class ReadModelDiff:
    """The row-level differences between a live read model and a replayed one."""

    projection: str
    live_generation: int | None
    replay_generation: int
    tables: tuple[TableDiff, ...]

    @property
    def same(self) -> bool:
        return all(table.same for table in self.tables)


async def _rows(session: SqlSession, table: str | None) -> dict[Any, list[Row]]:
    keyed: dict[Any, list[Row]] = {}
    if table is None:
        return keyed
    for row in await session.query(f"SELECT * FROM {table}"):
        keyed.setdefault(row[0], []).append(tuple(row))
    return keyed


async def compare(
    target: SqlTarget, projection: str, replay_generation: int, live_generation: int | None = None
) -> ReadModelDiff:
    """Compare the tables of ``replay_generation`` with the live (active) generation's, or
    with ``live_generation``."""
    session = await target.connect()
    try:
        await session.migrate()
        found = {g.number: g for g in await generations(session, projection)}
        replayed = found.get(replay_generation)
        if replayed is None:
            raise ValueError(f"projection {projection!r} has no generation {replay_generation}")
        live: Generation | None
        if live_generation is None:
            active = [g for g in found.values() if g.state == "active"]
            live = active[-1] if active else None
        else:
            live = found.get(live_generation)
        diffs = []
        for table in replayed.tables:
            live_table = (
                physical_tables([table], live.number)[table]
                if live is not None and table in live.tables
                else None
            )
            ours = await _rows(session, physical_tables([table], replayed.number)[table])
            theirs = await _rows(session, live_table)
            diffs.append(_diff(table, theirs, ours))
        return ReadModelDiff(
            projection, None if live is None else live.number, replay_generation, tuple(diffs)
        )
    finally:
        await session.close()


def _diff(table: str, live: dict[Any, list[Row]], replay: dict[Any, list[Row]]) -> TableDiff:
    only_live = [k for k in live if k not in replay]
    only_replay = [k for k in replay if k not in live]
    changed = [
        k
        for k in live
        if k in replay and sorted(map(repr, live[k])) != sorted(map(repr, replay[k]))
    ]
    samples: list[tuple[Any, Row | None, Row | None]] = []
    for key in [*changed, *only_live, *only_replay][:5]:
        mine, theirs = live.get(key), replay.get(key)
        samples.append((key, mine[0] if mine else None, theirs[0] if theirs else None))
    return TableDiff(
        table,
        sum(map(len, live.values())),
        sum(map(len, replay.values())),
        len(only_live),
        len(only_replay),
        len(changed),
        tuple(samples),
    )


async def drop_generation(target: SqlTarget, projection: str, number: int) -> None:
    """Drop a generation that is not active (a replay's scratch, a retired one): its tables,
    checkpoints and dead letters.

    Raises:
        ValueError: the generation is the active one.
    """
    session = await target.connect()
    try:
        found = [g for g in await generations(session, projection) if g.number == number]
        if not found:
            return
        if found[0].state == "active":
            raise ValueError(f"generation {number} of {projection!r} is active")
        names = TableNames(session.dialect, physical_tables(found[0].tables, number))
        statements: Sequence[str] = [
            *(f"DROP TABLE IF EXISTS {t}" for t in names.physical.values()),
        ]
        for statement in statements:
            await session.execute(statement)
        for table in (
            "factstream_projections",
            "factstream_checkpoints",
            "factstream_dead_letters",
        ):
            await session.execute(
                session.dialect.convert(f"DELETE FROM {table} WHERE name = ? AND generation = ?"),
                (projection, number),
            )
    finally:
        await session.close()
