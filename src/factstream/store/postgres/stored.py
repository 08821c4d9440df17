"""Answering appends from what is stored: retries of stored batches (idempotent appends),
duplicate ids, and expected versions that did not hold."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from ...events import DuplicateEventId, WrongExpectedVersion
from ..encoding import EncodedEvent
from ..idempotency import StoredEvent, match_stored_batch
from .requests import AppendRequest, Outcome

__all__ = ["answer_rejected", "answer_retries", "stored_events"]


async def stored_events(
    conn: asyncpg.Connection, stored_by_ids: str, batches: Sequence[list[EncodedEvent]]
) -> dict[uuid.UUID, StoredEvent]:
    """The stored events with the ids of ``batches``."""
    ids = [event.id for batch in batches for event in batch]
    rows = await conn.fetch(stored_by_ids, ids)
    return {row[0]: StoredEvent(*row[1:]) for row in rows}


def answer_rejected(
    rejected: list[tuple[AppendRequest, int]], stored: dict[uuid.UUID, StoredEvent]
) -> list[tuple[AppendRequest, Outcome]]:
    """Each append whose expected version did not hold (with the stream's actual version): its
    original result if it is a retry of a stored batch, else the error."""
    answers: list[tuple[AppendRequest, Outcome]] = []
    for request, actual in rejected:
        outcome: Outcome
        try:
            existing = match_stored_batch(
                request.stream_id, request.batch, _own(request.batch, stored)
            )
        except DuplicateEventId as exc:
            outcome = exc
        else:
            outcome = existing or WrongExpectedVersion(request.stream_id, request.expected, actual)
        answers.append((request, outcome))
    return answers


def answer_retries(
    pending: list[AppendRequest], stored: dict[uuid.UUID, StoredEvent]
) -> tuple[list[tuple[AppendRequest, Outcome]], list[AppendRequest]]:
    """After an event id collided: (the answers of the appends with stored ids, the rest)."""
    left: list[AppendRequest] = []
    answers: list[tuple[AppendRequest, Outcome]] = []
    for request in pending:
        if not any(event.id in stored for event in request.batch):
            left.append(request)
            continue
        outcome: Outcome
        try:
            existing = match_stored_batch(
                request.stream_id, request.batch, _own(request.batch, stored)
            )
            assert existing is not None
            outcome = existing
        except DuplicateEventId as exc:
            outcome = exc
        answers.append((request, outcome))
    return answers, left


def _own(
    batch: list[EncodedEvent], stored: dict[uuid.UUID, StoredEvent]
) -> dict[uuid.UUID, StoredEvent]:
    """The stored events with the ids of ``batch`` (``stored`` has the whole group's)."""
    return {event.id: stored[event.id] for event in batch if event.id in stored}
