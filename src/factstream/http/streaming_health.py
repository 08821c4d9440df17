"""Readiness of the streaming side: relays and consumer-group members, from their heartbeats."""

from __future__ import annotations

from collections.abc import Sequence

from ..store.base import EventStore
from ..streaming.heartbeats import UNHEALTHY, component_status
from ..streaming.state.base import StreamingState
from . import ports

__all__ = ["StreamingStatus"]


class StreamingStatus:
    """A :class:`~factstream.http.ports.HealthCheck` of the relays and consumer-group members
    whose heartbeats are in ``state`` (:mod:`factstream.streaming.heartbeats`).

    Unhealthy when one is dead (no heartbeat for three of its intervals: killed, stopped with
    SIGSTOP, host gone), stuck (beating, behind, not moving for ``stuck_after`` seconds) or
    failed, and when an ``expected`` component has no active member. The detail names each.

    Args:
        state: the streaming state (the store's database).
        store: the event store, for the head of the log (a relay's lag).
        expected: ``relay:<name>`` or ``consumer:<group>`` entries that must have an active
            (running) member.
    """

    def __init__(
        self,
        state: StreamingState,
        store: EventStore | None = None,
        *,
        stuck_after: float = 60.0,
        expected: Sequence[str] = (),
        name: str = "streaming",
    ) -> None:
        for entry in expected:
            component, _, group = entry.partition(":")
            if component not in ("relay", "consumer") or not group:
                raise ValueError(
                    f"expected entries are relay:<name> or consumer:<group>, got {entry!r}"
                )
        self._state = state
        self._store = store
        self._stuck_after = stuck_after
        self._expected = tuple(expected)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def check(self) -> ports.CheckResult:
        head = None if self._store is None else await self._store.head_position()
        statuses = await component_status(self._state, head=head, stuck_after=self._stuck_after)
        problems = [s.describe() for s in statuses if s.state in UNHEALTHY]
        observed: dict[str, dict[str, object]] = {}
        active = set()
        for status in statuses:
            key = f"{status.component}:{status.name}"
            observed.setdefault(key, {})[status.member] = {
                "state": status.state,
                "lag": status.lag,
                "heartbeat_age": round(status.heartbeat_age, 3),
            }
            if status.state in ("running", "stuck"):
                active.add(key)
        problems += [f"{key}: no active member" for key in self._expected if key not in active]
        return ports.CheckResult(
            healthy=not problems,
            detail="; ".join(problems) or "all relays and consumers beat",
            observed=observed,
        )
