"""The read side behind the HTTP surface: projection status, health and dead letters.

Adapters from :mod:`factstream.projections` (runners' heartbeats in the read model's database,
the dead-letter store) to the small ports the app takes (:mod:`factstream.http.ports`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from ..projections.deadletters import DeadLetter as ParkedEvent
from ..projections.deadletters import DeadLetters
from ..projections.heartbeats import ProjectionStatus as ReadModelStatus
from ..projections.heartbeats import projection_status
from ..projections.readmodels.sql import SqlTarget
from ..store.base import EventStore
from . import ports

__all__ = ["ProjectionDeadLetters", "ProjectionsStatus"]

_UNHEALTHY = ("dead", "stuck", "failed")
_MAX_LISTED = 10_000  # parked events listed per projection (dead letters are few, or an incident)


class ProjectionsStatus:
    """Status and readiness of every projection whose read model lives at ``target``.

    It is a :class:`~factstream.http.ports.ProjectionStatusSource` (``/projections``) and a
    :class:`~factstream.http.ports.HealthCheck` (``/health/ready``): unhealthy when a runner is
    dead (no heartbeat for three intervals: killed, stopped with SIGSTOP, host gone), stuck
    (beating but not moving while behind the log), failed, when no runner runs a projection,
    or when a projection is more than ``max_lag`` events behind.

    Args:
        target: where the read models and their heartbeats live.
        store: the event store, for the head of the log (lag and stuck detection).
        stuck_after: seconds without progress, while behind, that make a runner stuck.
        max_lag: events behind the head above which the projection counts as unhealthy.
        expected: projection names that must be running (others are reported when present).
    """

    def __init__(
        self,
        target: SqlTarget,
        store: EventStore,
        *,
        stuck_after: float = 60.0,
        max_lag: int | None = None,
        expected: Sequence[str] = (),
        name: str = "projections",
    ) -> None:
        self._target = target
        self._store = store
        self._stuck_after = stuck_after
        self._max_lag = max_lag
        self._expected = tuple(expected)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def statuses(self) -> list[ReadModelStatus]:
        head = await self._store.head_position()
        return await projection_status(self._target, head, stuck_after=self._stuck_after)

    async def projection_statuses(self) -> list[ports.ProjectionStatus]:
        now = dt.datetime.now(dt.UTC)
        found = []
        for status in await self.statuses():
            states = [runner.state for runner in status.runners]
            worst = next((s for s in _UNHEALTHY if s in states), None)
            state: str = worst or ("running" if states else "stopped")
            if status.building and state == "running":
                state = "rebuilding"
            beat = min((r.heartbeat_age for r in status.runners), default=None)
            error = next((r.error for r in status.runners if r.error), None)
            found.append(
                ports.ProjectionStatus(
                    name=status.name,
                    position=status.position,
                    state=state,
                    last_heartbeat=None if beat is None else now - dt.timedelta(seconds=beat),
                    error=error,
                )
            )
        return found

    async def check(self) -> ports.CheckResult:
        statuses = await self.statuses()
        problems: list[str] = []
        observed: dict[str, object] = {}
        seen = set()
        for status in statuses:
            seen.add(status.name)
            states = [runner.state for runner in status.runners]
            observed[status.name] = {
                "lag": status.lag,
                "parked": status.parked,
                "runners": {r.runner_id: r.state for r in status.runners},
                "heartbeat_age": min((r.heartbeat_age for r in status.runners), default=None),
            }
            for runner in status.runners:
                if runner.state in _UNHEALTHY:
                    problems.append(
                        f"{status.name}: runner {runner.runner_id} on {runner.host} "
                        f"(pid {runner.pid}) is {runner.state}"
                        + (f": {runner.error}" if runner.error else "")
                    )
            if "running" not in states and not any(s in _UNHEALTHY for s in states):
                problems.append(f"{status.name}: no runner is running")
            if self._max_lag is not None and status.lag is not None and status.lag > self._max_lag:
                problems.append(
                    f"{status.name}: {status.lag} events behind (limit {self._max_lag})"
                )
        for missing in self._expected:
            if missing not in seen:
                problems.append(f"{missing}: never started here")
        return ports.CheckResult(
            healthy=not problems,
            detail="; ".join(problems) or "all runners beat",
            observed=observed,
        )


class ProjectionDeadLetters:
    """The parked events of some projections as a :class:`~factstream.http.ports.DeadLetterSource`.

    Ids are ``<projection>@<position>``. Retrying one asks the runner to replay its whole
    parked stream in order (the events behind it were held back for it); skipping one drops
    only that event.
    """

    def __init__(self, target: SqlTarget, projections: Sequence[str]) -> None:
        self._target = target
        self._projections = tuple(projections)

    async def list(self, *, after: str | None = None, limit: int = 100) -> list[ports.DeadLetter]:
        letters: list[ports.DeadLetter] = []
        for projection in self._projections:
            async with DeadLetters(self._target, projection) as parked:
                events = await parked.list(limit=_MAX_LISTED)
                letters.extend(_port(projection, event) for event in events)
        letters.sort(key=lambda letter: _key(letter.id))
        if after is not None:
            letters = [letter for letter in letters if _key(letter.id) > _key(after)]
        return letters[:limit]

    async def show(self, dead_letter_id: str) -> ports.DeadLetter | None:
        found = _parse(dead_letter_id, self._projections)
        if found is None:
            return None
        projection, position = found
        async with DeadLetters(self._target, projection) as parked:
            event = await parked.show(position)
        return None if event is None else _port(projection, event)

    async def retry(self, dead_letter_id: str) -> bool:
        letter = await self.show(dead_letter_id)
        if letter is None:
            return False
        async with DeadLetters(self._target, letter.consumer) as parked:
            await parked.retry(letter.stream_id)
        return True

    async def skip(self, dead_letter_id: str) -> bool:
        found = _parse(dead_letter_id, self._projections)
        if found is None:
            return False
        projection, position = found
        async with DeadLetters(self._target, projection) as parked:
            return await parked.skip(position)


def _port(projection: str, parked: ParkedEvent) -> ports.DeadLetter:
    return ports.DeadLetter(
        id=f"{projection}@{parked.position}",
        consumer=projection,
        stream_id=parked.event.stream_id,
        position=parked.position,
        event_type=parked.event.type,
        error=parked.error or "held back behind an earlier event of its stream",
        attempts=parked.attempts,
        parked_at=parked.parked_at,
    )


def _key(dead_letter_id: str) -> tuple[str, int]:
    projection, _, position = dead_letter_id.rpartition("@")
    return projection, int(position) if position.isdigit() else -1


def _parse(dead_letter_id: str, projections: Sequence[str]) -> tuple[str, int] | None:
    projection, _, position = dead_letter_id.rpartition("@")
    if projection not in projections or not position.isdigit():
        return None
    return projection, int(position)
