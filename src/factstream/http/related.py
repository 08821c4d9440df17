"""The events related to one event: its cause, its consequences, its correlation.

Each is one indexed lookup of the store port (``event_by_id``, ``events_by_causation``,
``events_by_correlation``), so the answer does not depend on how far apart the events are in
the log, on any backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import msgspec

from ..events import RecordedEvent
from ..store.base import EventStore

__all__ = ["Related", "find_related"]


class Related(msgspec.Struct, frozen=True):
    """An event and its neighbours by causation and correlation.

    Attributes:
        event: the event.
        caused_by: the event named by its ``causation_id``, if that is an event of this log.
        caused: events whose ``causation_id`` is this event's id, oldest first.
        correlated: the other events with its ``correlation_id``, oldest first.
        same_cause: the other events with its ``causation_id`` (stored by the same command,
            when the cause is a command rather than an event), oldest first.
        limit: the most events listed in ``caused``, ``correlated`` and ``same_cause``.
        more_caused, more_correlated, more_same_cause: whether there are more than listed.
    """

    event: RecordedEvent
    caused_by: RecordedEvent | None
    caused: list[RecordedEvent]
    correlated: list[RecordedEvent]
    same_cause: list[RecordedEvent]
    limit: int
    more_caused: bool = False
    more_correlated: bool = False
    more_same_cause: bool = False


def _as_uuid(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def find_related(store: EventStore, event: RecordedEvent, limit: int) -> Related:
    cause_id = _as_uuid(event.causation_id)
    caused_by = None if cause_id is None else await store.event_by_id(cause_id)
    caused = await store.events_by_causation(str(event.id), limit=limit + 1)
    correlated = await _others(store.events_by_correlation, event.correlation_id, event, limit)
    same_cause = await _others(store.events_by_causation, event.causation_id, event, limit)
    return Related(
        event=event,
        caused_by=caused_by,
        caused=caused[:limit],
        correlated=correlated[:limit],
        same_cause=same_cause[:limit],
        limit=limit,
        more_caused=len(caused) > limit,
        more_correlated=len(correlated) > limit,
        more_same_cause=len(same_cause) > limit,
    )


async def _others(
    lookup: Callable[..., Awaitable[list[RecordedEvent]]],
    value: str | None,
    event: RecordedEvent,
    limit: int,
) -> list[RecordedEvent]:
    """Up to ``limit + 1`` events other than ``event`` found by ``lookup(value)`` (one more
    than listed tells whether there are more)."""
    if not value:
        return []
    found = await lookup(value, limit=limit + 2)
    return [other for other in found if other.position != event.position]
