"""``InstrumentedEventStore``: Prometheus metrics around any event store, by wrapping."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..events import ANY, AppendResult, ExpectedVersion, NewEvent, RecordedEvent
from ..store.base import EventStore
from ..store.decorator import StoreDecorator
from . import names
from .metrics import Metrics

__all__ = ["InstrumentedEventStore", "backend_name"]


def backend_name(store: object) -> str:
    """``memory``, ``sqlite``, ``postgres``... from the store's class name."""
    name = type(store).__name__.removesuffix("EventStore").lower()
    return name or "custom"


class InstrumentedEventStore(StoreDecorator):
    """Records append and read latency, events appended, errors, batch sizes and the head.

    Args:
        inner: the store to observe.
        metrics: where to record.
        backend: the ``backend`` label; derived from the store's class by default.
    """

    def __init__(self, inner: EventStore, metrics: Metrics, *, backend: str | None = None) -> None:
        super().__init__(inner)
        self.metrics = metrics
        label = backend or backend_name(inner)
        append = metrics.histogram(names.APPEND_DURATION)
        self._append_ok = append.labels(label, "ok")
        self._append_failed = append.labels(label, "error")
        self._appended = metrics.counter(names.EVENTS_APPENDED).labels(label)
        self._batch = metrics.histogram(names.APPEND_BATCH_SIZE).labels(label)
        self._errors = metrics.counter(names.APPEND_ERRORS)
        self._read_stream = metrics.histogram(names.READ_DURATION).labels(label, "stream")
        self._head = metrics.gauge(names.HEAD_POSITION).labels(label)
        self._label = label
        counts = getattr(inner, "commit_counts", None)
        if callable(counts):
            metrics.add_commit_source(label, counts)

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        started = time.perf_counter()
        try:
            result = await self.inner.append(stream_id, events, expected_version)
        except Exception as exc:
            self._append_failed.observe(time.perf_counter() - started)
            self._errors.labels(self._label, type(exc).__name__).inc()
            raise
        self._append_ok.observe(time.perf_counter() - started)
        count = len(events)
        self._appended.inc(count)
        self._batch.observe(count)
        self._head.set(result.position)
        return result

    async def read(
        self,
        stream_id: str,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
    ) -> list[RecordedEvent]:
        started = time.perf_counter()
        try:
            return await self.inner.read(stream_id, from_version, limit, backwards)
        finally:
            self._read_stream.observe(time.perf_counter() - started)
