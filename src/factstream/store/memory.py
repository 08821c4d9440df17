"""The in-memory event store: for tests and examples, with the semantics of the others."""

from __future__ import annotations

import uuid

from ..events import AppendResult, ExpectedVersion, RecordedEvent, WrongExpectedVersion
from ..events.versions import satisfied
from .base import StoreBase
from .encoding import EncodedEvent, RowDecoder, micros_now
from .idempotency import StoredEvent, match_stored_batch
from .limits import StoreLimits

__all__ = ["MemoryEventStore"]

# (position, id, stream_id, version, type, schema_version, data, metadata, correlation, causation,
#  timestamp in microseconds): the columns a SQL backend stores, kept encoded so a caller that
# mutates its dicts after appending or reading cannot change what is stored.
_Row = tuple[
    int, uuid.UUID, str, int, str, int, bytes, "bytes | None", "str | None", "str | None", int
]


class MemoryEventStore(StoreBase):
    """Keeps the log in a list. Appends are atomic because they never yield mid-way."""

    def __init__(self, limits: StoreLimits | None = None) -> None:
        super().__init__(limits)
        self._log: list[_Row] = []
        self._streams: dict[str, list[int]] = {}  # stream id -> indexes into _log
        self._by_id: dict[uuid.UUID, int] = {}
        self._decoder = RowDecoder()

    @classmethod
    async def open(cls, limits: StoreLimits | None = None) -> MemoryEventStore:
        return cls(limits)

    async def _append(
        self, stream_id: str, batch: list[EncodedEvent], expected: ExpectedVersion
    ) -> AppendResult:
        indexes = self._streams.get(stream_id)
        actual = len(indexes) if indexes else 0
        if any(event.id in self._by_id for event in batch):
            existing = match_stored_batch(stream_id, batch, self._stored(batch))
            if existing is not None:
                return existing
        if not satisfied(expected, actual):
            raise WrongExpectedVersion(stream_id, expected, actual)
        if indexes is None:
            indexes = self._streams[stream_id] = []
        micros = micros_now()
        first_position = len(self._log) + 1
        for offset, event in enumerate(batch):
            index = len(self._log)
            self._log.append(
                (
                    index + 1,
                    event.id,
                    stream_id,
                    actual + offset + 1,
                    event.type,
                    event.schema_version,
                    event.data,
                    event.metadata,
                    event.correlation_id,
                    event.causation_id,
                    micros,
                )
            )
            indexes.append(index)
            self._by_id[event.id] = index
        head = len(self._log)
        self._notifier.advance(head)
        return AppendResult(stream_id, actual + len(batch), head, first_position)

    def _stored(self, batch: list[EncodedEvent]) -> dict[uuid.UUID, StoredEvent]:
        found: dict[uuid.UUID, StoredEvent] = {}
        for event in batch:
            index = self._by_id.get(event.id)
            if index is not None:
                row = self._log[index]
                found[event.id] = StoredEvent(
                    row[2], row[3], row[0], row[4], row[5], row[6], row[7], row[8], row[9]
                )
        return found

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
        return [self._decode(self._log[i]) for i in chosen]

    async def _read_all_page(self, from_position: int, limit: int) -> list[RecordedEvent]:
        start = from_position - 1  # positions here are list indexes plus one
        return [self._decode(row) for row in self._log[start : start + limit]]

    def _decode(self, row: _Row) -> RecordedEvent:
        return self._decoder.event(*row)

    async def stream_version(self, stream_id: str) -> int:
        self._check_open()
        indexes = self._streams.get(stream_id)
        return len(indexes) if indexes else 0

    async def head_position(self) -> int:
        self._check_open()
        return len(self._log)

    async def _close(self) -> None:
        return None
