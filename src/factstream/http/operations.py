"""Projections and dead letters over HTTP, for the console and for scripts.

``GET /projections`` reports every projection's checkpoint, lag and lag history;
``GET /dead-letters`` lists parked events, ``GET /dead-letters/{id}`` shows one with its event,
``POST /dead-letters/{id}/retry`` and ``.../skip`` act on it. Without a source configured the
lists answer ``configured: false`` and the actions 501.
"""

import datetime as dt
from typing import Annotated, Literal

import msgspec
from litestar import get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter, QueryParameter

from ..events import RecordedEvent
from ..store.base import EventStore
from .lag import LagHistory
from .ports import DeadLetter, DeadLetterSource
from .problems import NotFound, Problem
from .settings import HttpSettings

__all__ = ["operation_routes"]


class ProjectionView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    position: int
    lag: int
    state: str
    last_heartbeat: dt.datetime | None
    heartbeat_age_seconds: float | None
    error: str | None
    history: list[tuple[float, int]]


class Projections(msgspec.Struct, frozen=True, kw_only=True):
    configured: bool
    controllable: bool
    head_position: int
    sample_interval: float
    projections: list[ProjectionView]


class DeadLetterPage(msgspec.Struct, frozen=True, kw_only=True):
    configured: bool
    dead_letters: list[DeadLetter]
    next_after: str | None


class DeadLetterDetail(msgspec.Struct, frozen=True, kw_only=True):
    dead_letter: DeadLetter
    event: RecordedEvent | None


class DeadLetterOutcome(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    outcome: Literal["retried", "skipped"]


DeadLetterId = Annotated[str, PathParameter(min_length=1, max_length=200)]


def _not_configured() -> Problem:
    return Problem(
        "this server has no dead-letter store configured", status=501, kind="not-configured"
    )


def operation_routes(
    store: EventStore,
    settings: HttpSettings,
    lag: LagHistory | None,
    dead_letters: DeadLetterSource | None,
    controllable: bool = False,
) -> list[HTTPRouteHandler]:
    @get("/projections", tags=["operations"], summary="Projections with lag and lag history")
    async def projections() -> Projections:
        if lag is None:
            head = await store.head_position()
            return Projections(
                configured=False,
                controllable=controllable,
                head_position=head,
                sample_interval=settings.lag_sample_interval,
                projections=[],
            )
        head, statuses = await lag.sample()
        now = dt.datetime.now(dt.UTC)
        views = [
            ProjectionView(
                name=status.name,
                position=status.position,
                lag=max(0, head - status.position),
                state=status.state,
                last_heartbeat=status.last_heartbeat,
                heartbeat_age_seconds=(
                    round((now - status.last_heartbeat).total_seconds(), 3)
                    if status.last_heartbeat is not None
                    else None
                ),
                error=status.error,
                history=lag.history(status.name),
            )
            for status in statuses
        ]
        return Projections(
            configured=True,
            controllable=controllable,
            head_position=head,
            sample_interval=lag.interval,
            projections=views,
        )

    @get("/dead-letters", tags=["operations"], summary="Parked events, oldest first")
    async def list_dead_letters(
        after: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=settings.max_page)] = 100,
    ) -> DeadLetterPage:
        if dead_letters is None:
            return DeadLetterPage(configured=False, dead_letters=[], next_after=None)
        found = await dead_letters.list(after=after, limit=limit)
        next_after = found[-1].id if len(found) == limit else None
        return DeadLetterPage(configured=True, dead_letters=found, next_after=next_after)

    async def _existing(dead_letter_id: str) -> DeadLetter:
        if dead_letters is None:
            raise _not_configured()
        found = await dead_letters.show(dead_letter_id)
        if found is None:
            raise NotFound(f"there is no dead letter {dead_letter_id!r}")
        return found

    @get("/dead-letters/{dead_letter_id:str}", tags=["operations"], summary="One dead letter")
    async def show_dead_letter(dead_letter_id: DeadLetterId) -> DeadLetterDetail:
        letter = await _existing(dead_letter_id)
        event = await store.event_at(letter.position)
        return DeadLetterDetail(dead_letter=letter, event=event)

    async def _act(
        dead_letter_id: str, outcome: Literal["retried", "skipped"]
    ) -> DeadLetterOutcome:
        if dead_letters is None:
            raise _not_configured()
        action = dead_letters.retry if outcome == "retried" else dead_letters.skip
        if not await action(dead_letter_id):
            raise NotFound(f"there is no dead letter {dead_letter_id!r}")
        return DeadLetterOutcome(id=dead_letter_id, outcome=outcome)

    @post(
        "/dead-letters/{dead_letter_id:str}/retry",
        tags=["operations"],
        summary="Hand a parked event back to its consumer",
        status_code=200,
    )
    async def retry_dead_letter(dead_letter_id: DeadLetterId) -> DeadLetterOutcome:
        return await _act(dead_letter_id, "retried")

    @post(
        "/dead-letters/{dead_letter_id:str}/skip",
        tags=["operations"],
        summary="Drop a parked event for its consumer",
        status_code=200,
    )
    async def skip_dead_letter(dead_letter_id: DeadLetterId) -> DeadLetterOutcome:
        return await _act(dead_letter_id, "skipped")

    return [projections, list_dead_letters, show_dead_letter, retry_dead_letter, skip_dead_letter]
