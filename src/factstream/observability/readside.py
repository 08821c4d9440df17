"""Prometheus gauges of the read side: lag, parked events and heartbeat age per projection.

The runners' heartbeats live in the read model's database; :class:`ProjectionMetrics` reads
them (``projection_status``) and sets the catalogue's gauges, either on demand
(:meth:`ProjectionMetrics.refresh`) or every few seconds from a task (:meth:`run`), so any
process (a worker, the HTTP app) can export the state of runners in other processes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..projections.heartbeats import projection_status
from ..projections.readmodels.sql import SqlTarget
from ..store.base import EventStore
from . import names
from .metrics import Metrics

__all__ = ["ProjectionMetrics", "refresh_every"]

_log = logging.getLogger("factstream.observability")
_COMPONENT = "projection"


class ProjectionMetrics:
    """Sets ``factstream_lag_events``, ``factstream_parked_events`` and
    ``factstream_heartbeat_age_seconds`` for every projection at ``target``."""

    def __init__(self, metrics: Metrics, target: SqlTarget, store: EventStore) -> None:
        self._target = target
        self._store = store
        self._lag = metrics.gauge(names.LAG_EVENTS)
        self._parked = metrics.gauge(names.PARKED)
        self._heartbeat = metrics.gauge(names.HEARTBEAT_AGE)

    async def refresh(self) -> None:
        head = await self._store.head_position()
        for status in await projection_status(self._target, head):
            if status.lag is not None:
                self._lag.labels(_COMPONENT, status.name).set(status.lag)
            self._parked.labels(_COMPONENT, status.name).set(status.parked)
            ages = [runner.heartbeat_age for runner in status.runners]
            if ages:
                # The freshest runner: one live runner is enough for the projection to move.
                self._heartbeat.labels(_COMPONENT, status.name).set(min(ages))

    async def run(self, interval: float = 5.0) -> None:
        """Refresh until cancelled; a failed refresh is logged and tried again."""
        await refresh_every(self.refresh, interval, "projection metrics")


async def refresh_every(refresh: Callable[[], Awaitable[None]], interval: float, what: str) -> None:
    """Call ``refresh`` every ``interval`` seconds until cancelled, logging failures."""
    while True:
        try:
            await refresh()
        except Exception:
            _log.warning("refreshing %s failed", what, exc_info=True)
        await asyncio.sleep(interval)
