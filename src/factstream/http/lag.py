"""Projection lag over time: a sampler that keeps a short history for the console's chart."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from ..store.base import EventStore
from .ports import ProjectionStatus, ProjectionStatusSource

__all__ = ["LagHistory"]

_log = logging.getLogger("factstream.http")
_MAX_TRACKED = 500  # projections; more would be a misconfiguration, not a chart


class LagHistory:
    """Samples every projection's lag (head position minus its checkpoint) at an interval and
    keeps the last ``keep`` samples of each, as (unix time, lag in events) pairs.

    Memory is bounded by ``keep`` per projection and a cap on the number of projections.
    """

    def __init__(
        self, source: ProjectionStatusSource, store: EventStore, interval: float, keep: int
    ) -> None:
        self._source = source
        self._store = store
        self.interval = interval
        self._keep = keep
        self._samples: dict[str, deque[tuple[float, int]]] = {}

    async def sample(self) -> tuple[int, list[ProjectionStatus]]:
        """Take one sample now; returns the head and the statuses it saw."""
        statuses = await self._source.projection_statuses()
        head = await self._store.head_position()
        now = round(time.time(), 3)
        seen = set()
        for status in statuses[:_MAX_TRACKED]:
            seen.add(status.name)
            series = self._samples.get(status.name)
            if series is None:
                series = self._samples[status.name] = deque(maxlen=self._keep)
            series.append((now, max(0, head - status.position)))
        for name in list(self._samples):
            if name not in seen:
                del self._samples[name]
        return head, statuses

    def history(self, name: str) -> list[tuple[float, int]]:
        return list(self._samples.get(name, ()))

    async def run(self) -> None:
        """Sample until cancelled; a failing sample is logged and the next one tried."""
        while True:
            try:
                await self.sample()
            except Exception as exc:
                _log.warning("projection lag sample failed: %s", type(exc).__name__, exc_info=exc)
            await asyncio.sleep(self.interval)
