"""Prometheus gauges of the streaming side: heartbeat age and lag of relays and consumers.

Like :class:`~factstream.observability.readside.ProjectionMetrics`, it reads the heartbeat rows
(here from the streaming state, :mod:`factstream.streaming.heartbeats`), so any process, a relay
worker or the HTTP app, exports the state of relays and members in every process: a member
stopped with SIGSTOP cannot be scraped, but its heartbeat age keeps growing in the others'
exposition.
"""

from __future__ import annotations

from ..store.base import EventStore
from ..streaming.heartbeats import component_status
from ..streaming.state.base import StreamingState
from . import names
from .metrics import Metrics
from .readside import refresh_every

__all__ = ["StreamingMetrics"]


class StreamingMetrics:
    """Sets ``factstream_heartbeat_age_seconds`` and ``factstream_lag_events`` for every relay
    and consumer-group member beating in ``state``.

    Labels: ``component`` is ``relay`` or ``consumer``; ``name`` is ``<relay or group>/<member>``
    (each process on its own, so a dead one is not hidden by a live one). Members that stopped
    cleanly or were forgotten leave the exposition.
    """

    def __init__(
        self, metrics: Metrics, state: StreamingState, store: EventStore | None = None
    ) -> None:
        self._state = state
        self._store = store
        self._lag = metrics.gauge(names.LAG_EVENTS)
        self._heartbeat = metrics.gauge(names.HEARTBEAT_AGE)
        self._exported: set[tuple[str, str]] = set()

    async def refresh(self) -> None:
        head = None if self._store is None else await self._store.head_position()
        exported = set()
        for status in await component_status(self._state, head=head):
            labels = (status.component, status.label)
            exported.add(labels)
            self._heartbeat.labels(*labels).set(status.heartbeat_age)
            if status.lag is not None:
                self._lag.labels(*labels).set(status.lag)
        for labels in self._exported - exported:
            for gauge in (self._heartbeat, self._lag):
                try:
                    gauge.remove(*labels)
                except KeyError:
                    pass
        self._exported = exported

    async def run(self, interval: float = 5.0) -> None:
        """Refresh until cancelled; a failed refresh is logged and tried again."""
        await refresh_every(self.refresh, interval, "streaming metrics")
