"""What the HTTP app needs from the rest of the system: small protocols and their value types.

The read side (projections, dead letters), the write side (command and query handlers, see
:mod:`factstream.http.endpoints`) and health checks plug in through these, so the HTTP layer
depends on no particular implementation.
"""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Any, Protocol, runtime_checkable

import msgspec

__all__ = [
    "CheckResult",
    "ConsistencyWaiter",
    "DeadLetter",
    "DeadLetterSource",
    "HealthCheck",
    "ProjectionControl",
    "ProjectionStatus",
    "ProjectionStatusSource",
]


@runtime_checkable
class ConsistencyWaiter(Protocol):
    """Something that can tell when a read model has processed the log up to a position
    (a projection runner)."""

    async def wait_for(self, position: int, timeout: float) -> bool:
        """Wait until everything up to ``position`` is processed; False after ``timeout`` s."""
        ...


class ProjectionStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One projection (or other log follower) as its runner reports it.

    Attributes:
        name: the projection's name.
        position: the last global position it has processed (its checkpoint).
        state: a word such as ``running``, ``stopped``, ``rebuilding``, ``failed``.
        last_heartbeat: when the runner last reported progress (aware UTC), if it does.
        error: the last failure, if any, as a message.
    """

    name: str
    position: int
    state: str = "running"
    last_heartbeat: dt.datetime | None = None
    error: str | None = None


@runtime_checkable
class ProjectionStatusSource(Protocol):
    """Reports the projections of the system (a projection runner or a registry of them)."""

    async def projection_statuses(self) -> list[ProjectionStatus]:
        """The current status of every projection."""
        ...


@runtime_checkable
class ProjectionControl(Protocol):
    """Rebuilds and resets the projections of a running system (the console's buttons)."""

    async def rebuild_projection(self, name: str) -> str | None:
        """Build the read model again from the whole log beside the live one, then swap it in.

        Returns:
            What was done, for people; None when there is no projection ``name``.
        """
        ...

    async def reset_projection(self, name: str) -> str | None:
        """Delete the read model and build it again in place from position 1 (queries see
        it fill up).

        Returns:
            What was done, for people; None when there is no projection ``name``.
        """
        ...


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """An event parked after its handler kept failing.

    Attributes:
        id: the dead letter's id (opaque to the HTTP layer).
        consumer: the projection or consumer group that failed.
        stream_id: the event's stream.
        position: the event's global position.
        event_type: the event's type.
        error: the last failure, as a message (no traceback).
        attempts: how many times handling was tried.
        parked_at: when it was parked (aware UTC).
        parked_behind: later events of the same stream held back behind it.
    """

    id: str
    consumer: str
    stream_id: str
    position: int
    event_type: str
    error: str
    attempts: int = 1
    parked_at: dt.datetime | None = None
    parked_behind: int = 0


@runtime_checkable
class DeadLetterSource(Protocol):
    """The dead-letter store of the read side: inspect, replay or skip parked events."""

    async def list(
        self, *, after: str | None = None, limit: int = 100
    ) -> builtins.list[DeadLetter]:
        """Up to ``limit`` dead letters with an id after ``after``, oldest first."""
        ...

    async def show(self, dead_letter_id: str) -> DeadLetter | None:
        """One dead letter, or None when there is no such id."""
        ...

    async def retry(self, dead_letter_id: str) -> bool:
        """Hand the event (and those parked behind it) back to its consumer.

        Returns False when there is no such id."""
        ...

    async def skip(self, dead_letter_id: str) -> bool:
        """Drop the event for its consumer and release those parked behind it.

        Returns False when there is no such id."""
        ...


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one readiness check.

    Attributes:
        healthy: whether the component works.
        detail: a short explanation for people (what is wrong, and what to do).
        observed: numbers behind the verdict (lag, heartbeat age...).
    """

    healthy: bool
    detail: str = ""
    observed: dict[str, Any] = msgspec.field(default_factory=dict)


@runtime_checkable
class HealthCheck(Protocol):
    """One readiness check (a runner's heartbeat, a broker connection...)."""

    @property
    def name(self) -> str:
        """A stable name, shown in ``/health/ready``."""
        ...

    async def check(self) -> CheckResult:
        """Look at the component; exceptions and slow answers count as unhealthy."""
        ...
