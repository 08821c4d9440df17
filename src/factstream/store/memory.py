"""The in-memory event store: for tests and examples, with the semantics of the others."""

from __future__ import annotations

import bisect
import datetime as dt
import uuid

from ..events import AppendResult, ExpectedVersion, RecordedEvent, WrongExpectedVersion
from ..events.versions import satisfied
from .base import Link, StoreBase
from .catalog import StreamInfo, stream_info
from .encoding import EncodedEvent
from .envelope import decode_envelope, encode_envelope, encode_timestamp, stored_event
from .idempotency import match_stored_batch
from .limits import StoreLimits

__all__ = ["MemoryEventStore"]


class MemoryEventStore(StoreBase):
    """Keeps the log in a list. Appends are atomic because they never yield mid-way.

    Events are kept encoded, as the SQL backends keep them, so a caller that mutates its dicts
    after appending or reading cannot change what is stored.
    """

    def __init__(self, limits: StoreLimits | None = None) -> None:
        super().__init__(limits)
        self._log: list[bytes] = []  # position p is self._log[p - 1]
        self._streams: dict[str, list[int]] = {}  # stream id -> indexes into _log
        self._by_id: dict[uuid.UUID, int] = {}
        self._stream_ids: list[str] = []  # sorted, for list_streams
        self._links: dict[Link, dict[str, list[int]]] = {"correlation": {}, "causation": {}}

    @classmethod
    async def open(cls, limits: StoreLimits | None = None) -> MemoryEventStore:
        return cls(limits)

    async def _append(
        self, stream_id: str, batch: list[EncodedEvent], expected: ExpectedVersion
    ) -> AppendResult:
        indexes = self._streams.get(stream_id)
        actual = len(indexes) if indexes else 0
        if any(event.id in self._by_id for event in batch):
            stored = {
                event.id: stored_event(self._log[self._by_id[event.id]])
                for event in batch
                if event.id in self._by_id
            }
            existing = match_stored_batch(stream_id, batch, stored)
            if existing is not None:
                return existing
        if not satisfied(expected, actual):
            raise WrongExpectedVersion(stream_id, expected, actual)
        if indexes is None:
            indexes = self._streams[stream_id] = []
            bisect.insort(self._stream_ids, stream_id)
        correlations, causations = self._links["correlation"], self._links["causation"]
        now = encode_timestamp(dt.datetime.now(dt.UTC))
        first_position = len(self._log) + 1
        for offset, event in enumerate(batch, 1):
            index = len(self._log)
            self._log.append(encode_envelope(event, stream_id, actual + offset, index + 1, now))
            indexes.append(index)
            self._by_id[event.id] = index
            if event.correlation_id:
                correlations.setdefault(event.correlation_id, []).append(index)
            if event.causation_id:
                causations.setdefault(event.causation_id, []).append(index)
        head = len(self._log)
        self._notifier.advance(head)
        return AppendResult(stream_id, actual + len(batch), head, first_position)

    async def _read_stream(
        self, stream_id: str, from_version: int | None, limit: int | None, backwards: bool
    ) -> list[RecordedEvent]:
        indexes = self._streams.get(stream_id)
        if not indexes:
            return []
        if backwards:
            end = len(indexes) if from_version is None else min(from_version, len(indexes))
            start = 0 if limit is None else max(0, end - limit)
            chosen = indexes[start:end][::-1]
        else:
            start = (from_version or 1) - 1
            end = len(indexes) if limit is None else start + limit
            chosen = indexes[start:end]
        return [decode_envelope(self._log[i]) for i in chosen]

    async def _read_all_page(self, from_position: int, limit: int) -> list[RecordedEvent]:
        start = from_position - 1
        return [decode_envelope(body) for body in self._log[start : start + limit]]

    async def _list_streams(self, prefix: str, after: str, limit: int) -> list[StreamInfo]:
        ids = self._stream_ids
        start = (
            bisect.bisect_right(ids, after) if after >= prefix else bisect.bisect_left(ids, prefix)
        )
        found = []
        for stream_id in ids[start : start + limit]:
            if not stream_id.startswith(prefix):
                break
            found.append(stream_info(decode_envelope(self._log[self._streams[stream_id][-1]])))
        return found

    async def _event_at(self, position: int) -> RecordedEvent | None:
        return decode_envelope(self._log[position - 1]) if position <= len(self._log) else None

    async def _event_by_id(self, event_id: uuid.UUID) -> RecordedEvent | None:
        index = self._by_id.get(event_id)
        return None if index is None else decode_envelope(self._log[index])

    async def _events_linked(
        self, link: Link, value: str, from_position: int, limit: int
    ) -> list[RecordedEvent]:
        indexes = self._links[link].get(value, [])
        start = bisect.bisect_left(indexes, from_position - 1)
        return [decode_envelope(self._log[i]) for i in indexes[start : start + limit]]

    async def stream_version(self, stream_id: str) -> int:
        self._check_open()
        indexes = self._streams.get(stream_id)
        return len(indexes) if indexes else 0

    async def head_position(self) -> int:
        self._check_open()
        return len(self._log)

    async def _close(self) -> None:
        return None
