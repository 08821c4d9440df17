"""The events related to one event: its cause, its consequences, its correlation.

The store port has no index on correlation or causation ids, so this looks in a window of
positions around the event (``HttpSettings.related_window`` each way): related events are
nearly always close in the log, and the cost stays bounded on any backend. A cause outside the
window is still found by id when an :class:`~factstream.http.ports.EventLocator` is available.
"""

from __future__ import annotations

import uuid

import msgspec

from ..events import RecordedEvent
from ..store.base import EventStore
from .ports import EventLocator

__all__ = ["Related", "find_related"]

_MAX_LISTED = 100


class Related(msgspec.Struct, frozen=True):
    """An event and its neighbours by causation and correlation.

    Attributes:
        event: the event.
        caused_by: the event named by its ``causation_id``, if that is an event found.
        caused: events whose ``causation_id`` is this event's id (within the window).
        correlated: other events with its ``correlation_id`` (within the window).
        window: the first and last position searched.
    """

    event: RecordedEvent
    caused_by: RecordedEvent | None
    caused: list[RecordedEvent]
    correlated: list[RecordedEvent]
    window: tuple[int, int]


def _as_uuid(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def find_related(
    store: EventStore, locator: EventLocator | None, event: RecordedEvent, window: int
) -> Related:
    first = max(1, event.position - window)
    nearby = [e async for e in store.read_all(first, limit=2 * window + 1)]
    last = nearby[-1].position if nearby else event.position
    own_id = str(event.id)
    cause_id = _as_uuid(event.causation_id)
    caused_by = None
    caused: list[RecordedEvent] = []
    correlated: list[RecordedEvent] = []
    for other in nearby:
        if other.position == event.position:
            continue
        if cause_id is not None and other.id == cause_id:
            caused_by = other
        if other.causation_id == own_id and len(caused) < _MAX_LISTED:
            caused.append(other)
        if (
            event.correlation_id
            and other.correlation_id == event.correlation_id
            and len(correlated) < _MAX_LISTED
        ):
            correlated.append(other)
    if caused_by is None and cause_id is not None and locator is not None:
        position = await locator.position_of(cause_id)
        if position is not None:
            async for found in store.read_all(position, limit=1):
                caused_by = found if found.position == position else None
    return Related(
        event=event,
        caused_by=caused_by,
        caused=caused,
        correlated=correlated,
        window=(first, last),
    )
