"""Append requests waiting for the writer: their arguments to the SQL, and their answers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, NamedTuple

from ...events import ANY, STREAM_EXISTS, AppendResult, ExpectedVersion, StoreUnavailable
from ..encoding import EncodedEvent
from ..settle import settle

__all__ = [
    "AppendRequest",
    "Outcome",
    "deliver",
    "deliver_each",
    "expected_code",
    "group_arguments",
    "one_arguments",
    "unavailable",
]


class AppendRequest(NamedTuple):
    stream_id: str
    batch: list[EncodedEvent]
    expected: ExpectedVersion
    future: asyncio.Future[AppendResult]


Outcome = AppendResult | BaseException

_EXPECTED_CODES = {ANY: -1, STREAM_EXISTS: -2}


def expected_code(expected: ExpectedVersion) -> int:
    """The expected version as the SQL takes it: a version, -1 for ANY, -2 for STREAM_EXISTS."""
    return expected if isinstance(expected, int) else _EXPECTED_CODES[expected]


def group_arguments(
    append_key: int, pending: list[AppendRequest], channel: str | None
) -> list[Any]:
    """The arguments of ``append_group`` (``sql/001_events.sql``) for ``pending``."""
    slots: dict[str, int] = {}
    append_stream: list[int] = []
    append_expected: list[int] = []
    append_size: list[int] = []
    event_append: list[int] = []
    event_offset: list[int] = []
    events: list[EncodedEvent] = []
    for number, request in enumerate(pending, 1):
        slot = slots.get(request.stream_id)
        if slot is None:
            slot = slots[request.stream_id] = len(slots) + 1
        append_stream.append(slot)
        append_expected.append(expected_code(request.expected))
        size = len(request.batch)
        append_size.append(size)
        event_append.extend([number] * size)
        event_offset.extend(range(size))
        events.extend(request.batch)
    ids, types, schema_versions, data, metadata, correlation, causation = zip(*events, strict=True)
    return [
        append_key,
        list(slots),
        append_stream,
        append_expected,
        append_size,
        event_append,
        event_offset,
        ids,
        types,
        schema_versions,
        data,
        metadata,
        correlation,
        causation,
        channel,
    ]


def one_arguments(request: AppendRequest, channel: str | None) -> list[Any]:
    """The arguments of ``append_one`` (or of ``append_single``, for a batch of one)."""
    batch = request.batch
    columns: Sequence[Any] = batch[0] if len(batch) == 1 else tuple(zip(*batch, strict=True))
    return [request.stream_id, expected_code(request.expected), *columns, channel]


def unavailable(message: str, cause: BaseException) -> StoreUnavailable:
    error = StoreUnavailable(message)
    error.__cause__ = cause
    return error


def deliver(requests: Sequence[AppendRequest], error: BaseException) -> None:
    deliver_each([(request, error) for request in requests])


def deliver_each(items: Sequence[tuple[AppendRequest, Outcome]]) -> None:
    for request, outcome in items:
        settle(request.future, outcome)
