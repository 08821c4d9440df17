"""Heartbeats of runners, and the status of projections: lag, and dead or stuck runners.

A runner writes its heartbeat row every few seconds from a task of its own (with its own
connection), with its position and when that last moved. A runner whose heartbeat is older
than three intervals is dead (killed, host gone, event loop blocked); one that beats but has
not moved for ``stuck_after`` seconds while the log is ahead of it is stuck (a handler waits
forever, a lock is never released).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .generations import generations
from .readmodels.sql import SqlSession, SqlTarget

if TYPE_CHECKING:
    from .targets import Target

__all__ = [
    "Beat",
    "Heartbeat",
    "ProjectionStatus",
    "RunnerStatus",
    "projection_status",
    "runner_status",
]

_log = logging.getLogger("factstream.projections")

RunnerState = Literal["running", "stopped", "failed", "dead", "stuck"]


@dataclass(frozen=True, slots=True)
class RunnerStatus:
    """One runner as seen from its heartbeats.

    Attributes:
        state: ``running``, ``stopped`` or ``failed`` as the runner reported it, or ``dead``
            (no heartbeat for three intervals) or ``stuck`` (beating, behind the log, not moving).
        heartbeat_age: seconds since its last heartbeat.
        progress_age: seconds since its position last moved.
    """

    runner_id: str
    projection: str
    generation: int
    host: str
    pid: int
    partitions: tuple[int, ...]
    position: int
    state: RunnerState
    heartbeat_age: float
    progress_age: float
    error: str | None


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """A projection's read model: its generations, checkpoint, lag and runners.

    Attributes:
        position: the smallest checkpoint over the active generation's partitions.
        lag: events between the log's head and ``position`` (``None`` without a store).
        building: generations being rebuilt in the shadow, with their checkpoints.
        parked: events parked in the dead-letter store.
    """

    name: str
    generation: int
    version: int
    position: int
    lag: int | None
    building: dict[int, int]
    parked: int
    runners: tuple[RunnerStatus, ...]


@dataclass(frozen=True, slots=True)
class Beat:
    """One heartbeat, as a runner reports it (times are the database's, when written)."""

    runner_id: str
    name: str
    generation: int
    host: str
    pid: int
    partitions: list[int]
    position: int
    progress_age: float  # seconds since the position last moved
    beat_every: float
    state: RunnerState
    error: str | None


class Heartbeat:
    """Writes a runner's heartbeat row until stopped (SQL read models; subclasses write it
    elsewhere: :class:`.readmodels.redis_runners.RedisHeartbeat`)."""

    def __init__(
        self,
        target: Any,
        runner_id: str,
        name: str,
        interval: float,
        report: Callable[[], tuple[int, int, frozenset[int], float]],
    ) -> None:
        self._target = target
        self._runner_id = runner_id
        self._name = name
        self._interval = interval
        self._report = report  # -> generation, position, partitions, last progress (epoch)
        self._session: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = await self._target.connect()
        await self._beat("running", None, first=True)
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self, state: RunnerState, error: str | None = None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            with contextlib.suppress(Exception):
                await self._beat(state, error)
            with contextlib.suppress(Exception):
                await self._close(self._session)
            self._session = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._beat("running", None)
            except Exception:  # a missed beat is reported by its absence; keep trying
                _log.warning("projection %s: heartbeat failed", self._name, exc_info=True)

    async def _beat(self, state: RunnerState, error: str | None, *, first: bool = False) -> None:
        assert self._session is not None
        generation, position, partitions, progress_at = self._report()
        beat = Beat(
            self._runner_id,
            self._name,
            generation,
            socket.gethostname(),
            os.getpid(),
            sorted(partitions),
            position,
            max(time.time() - progress_at, 0.0),
            self._interval,
            state,
            error,
        )
        await self._write(self._session, beat)

    async def _close(self, session: SqlSession) -> None:
        await session.close()

    async def _write(self, session: SqlSession, beat: Beat) -> None:
        now = session.dialect.now
        await session.execute(
            session.dialect.convert(
                "INSERT INTO factstream_runners (runner_id, name, generation, host, pid, "
                "partitions, position, started_at, heartbeat_at, progress_at, beat_every, "
                f"state, error) VALUES (?, ?, ?, ?, ?, ?, ?, {now}, {now}, {now} - ?, ?, ?, ?) "
                "ON CONFLICT (runner_id) DO UPDATE SET generation = excluded.generation, "
                "partitions = excluded.partitions, position = excluded.position, "
                "heartbeat_at = excluded.heartbeat_at, progress_at = excluded.progress_at, "
                "state = excluded.state, error = excluded.error"
            ),
            (
                beat.runner_id,
                beat.name,
                beat.generation,
                beat.host,
                beat.pid,
                json.dumps(beat.partitions),
                beat.position,
                beat.progress_age,
                beat.beat_every,
                beat.state,
                beat.error,
            ),
        )


def _state(
    reported: str,
    heartbeat_age: float,
    progress_age: float,
    beat_every: float,
    behind: bool,
    stuck_after: float,
) -> RunnerState:
    if reported != "running":
        return "failed" if reported == "failed" else "stopped"
    if heartbeat_age > 3 * beat_every:
        return "dead"
    if behind and progress_age > stuck_after:
        return "stuck"
    return "running"


def runner_status(
    name: str,
    row: tuple[Any, ...],
    now: float,
    head: int | None,
    stuck_after: float,
) -> RunnerStatus:
    """A runner's status from its stored heartbeat: ``row`` is (runner id, generation, host,
    pid, partitions (JSON), position, heartbeat at, progress at, beat every, state, error),
    ``now`` the database's clock."""
    rid, gen, host, pid, parts, pos, beat_at, progress_at, every, state, err = row
    heartbeat_age = now - float(beat_at)
    progress_age = now - float(progress_at)
    behind = head is not None and int(pos) < head
    computed = _state(state, heartbeat_age, progress_age, float(every), behind, stuck_after)
    return RunnerStatus(
        rid,
        name,
        int(gen),
        host,
        int(pid),
        tuple(json.loads(parts)),
        int(pos),
        computed,
        heartbeat_age,
        progress_age,
        err,
    )


async def projection_status(
    target: Target,
    head: int | None = None,
    *,
    stuck_after: float = 60.0,
    include_stopped: bool = False,
) -> list[ProjectionStatus]:
    """The status of every projection whose read model lives at ``target`` (SQL or Redis).

    Args:
        head: the log's head position (``await store.head_position()``), to compute lag and
            notice stuck runners; without it, neither is reported.
        stuck_after: seconds without progress, while behind, that make a runner stuck.
        include_stopped: also list runners that stopped cleanly.
    """
    if not isinstance(target, SqlTarget):
        from .readmodels.redis_runners import redis_projection_status

        return await redis_projection_status(
            target, head, stuck_after=stuck_after, include_stopped=include_stopped
        )
    session = await target.connect()
    try:
        await session.migrate()
        dialect = session.dialect
        names = [
            row[0]
            for row in await session.query(
                "SELECT DISTINCT name FROM factstream_projections ORDER BY name"
            )
        ]
        now = float((await session.query(f"SELECT {dialect.now}"))[0][0])
        found = []
        for name in names:
            active = [g for g in await generations(session, name) if g.state == "active"]
            if not active:
                continue
            generation = active[-1]
            rows = await session.query(
                dialect.convert(
                    "SELECT generation, min(position) FROM factstream_checkpoints "
                    "WHERE name = ? GROUP BY generation"
                ),
                (name,),
            )
            checkpoints = {int(g): int(p) for g, p in rows}
            position = checkpoints.get(generation.number, 0)
            building = {
                g.number: checkpoints.get(g.number, 0)
                for g in await generations(session, name)
                if g.state == "building"
            }
            parked = int(
                (
                    await session.query(
                        dialect.convert(
                            "SELECT count(*) FROM factstream_dead_letters "
                            "WHERE name = ? AND generation = ?"
                        ),
                        (name, generation.number),
                    )
                )[0][0]
            )
            runner_rows = await session.query(
                dialect.convert(
                    "SELECT runner_id, generation, host, pid, partitions, position, "
                    "heartbeat_at, progress_at, beat_every, state, error FROM factstream_runners "
                    "WHERE name = ? ORDER BY started_at"
                ),
                (name,),
            )
            runners = [
                status
                for status in (
                    runner_status(name, tuple(row), now, head, stuck_after) for row in runner_rows
                )
                if include_stopped or status.state != "stopped"
            ]
            found.append(
                ProjectionStatus(
                    name,
                    generation.number,
                    generation.version,
                    position,
                    None if head is None else max(head - position, 0),
                    building,
                    parked,
                    tuple(runners),
                )
            )
        return found
    finally:
        await session.close()
