"""Heartbeats of relays and consumer-group members, and their status: dead or stuck.

A :class:`Heartbeat` runs beside a relay or a member (it only reads their public status, so
neither knows about it) and writes a row to the streaming state every ``interval`` seconds,
where the relay keeps its lease and the group its partition leases: the store's database.
:func:`component_status` reads the rows back from any process. A component whose heartbeat is
older than three intervals is dead (killed, stopped with SIGSTOP, host gone, event loop
blocked); one that beats but has not moved for ``stuck_after`` seconds while behind is stuck
(a handler that never returns, a broker that never acknowledges).

    async with relay_heartbeat(relay, interval=1.0):
        await relay.run()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from .consumer import ConsumerGroup
from .relay import Relay
from .state.base import Beat, HeartbeatStore, StreamingState

__all__ = [
    "UNHEALTHY",
    "ComponentState",
    "ComponentStatus",
    "Heartbeat",
    "Progress",
    "component_status",
    "heartbeat_store",
    "member_heartbeat",
    "relay_heartbeat",
]

_log = logging.getLogger("factstream.streaming.heartbeats")

ComponentState = Literal["running", "standby", "stopped", "failed", "dead", "stuck"]
UNHEALTHY: tuple[ComponentState, ...] = ("dead", "stuck", "failed")
"""The states that fail readiness."""


@dataclass(frozen=True, slots=True)
class Progress:
    """What a component reports at a beat: see :class:`~factstream.streaming.state.Beat`."""

    active: bool
    position: int
    lag: int | None
    error: str | None = None


def heartbeat_store(state: StreamingState) -> HeartbeatStore:
    """``state`` as a place for heartbeats.

    Raises:
        TypeError: ``state`` does not keep heartbeats (a streaming state of another library).
    """
    if not isinstance(state, HeartbeatStore):
        raise TypeError(
            f"{type(state).__name__} does not keep heartbeats: it needs save_heartbeat, "
            "load_heartbeats and forget_heartbeats (see factstream.streaming.state.HeartbeatStore)"
        )
    return state


class Heartbeat:
    """Writes one component's heartbeat every ``interval`` seconds until stopped.

    Use as ``async with`` (or :meth:`start` / :meth:`stop`). The first beat is written before
    ``start`` returns, so a state that cannot take it fails at once. A failed beat later is
    logged and tried again at the next interval: a missed beat shows as an older heartbeat.

    Args:
        store: where the rows go (the streaming state).
        component: ``relay`` or ``consumer``.
        name: the relay's name or the group's.
        member: the relay's owner or the member id.
        report: called at every beat for the component's progress.
        interval: seconds between beats (> 0).
        forget_after: at start, rows of any component not beaten for this long are deleted
            (members that were killed long ago); ``None`` keeps them.
    """

    def __init__(
        self,
        store: HeartbeatStore,
        component: str,
        name: str,
        member: str,
        report: Callable[[], Awaitable[Progress]],
        *,
        interval: float = 1.0,
        forget_after: float | None = 3600.0,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"heartbeat interval must be > 0 seconds, got {interval}")
        if forget_after is not None and not forget_after > 3 * interval:
            raise ValueError(
                f"forget_after must be longer than three intervals ({3 * interval:g} s), "
                f"got {forget_after}"
            )
        self._store = store
        self._component = component
        self._name = name
        self._member = member
        self._report = report
        self.interval = interval
        self._forget_after = forget_after
        self._host = socket.gethostname()
        self._position: int | None = None
        self._moved_at = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the heartbeat is already running")
        if self._forget_after is not None:
            await self._store.forget_heartbeats(self._forget_after)
        await self.beat()
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"factstream-heartbeat-{self._component}-{self._name}"
        )

    async def stop(self, state: Literal["stopped", "failed"] = "stopped") -> None:
        """Stop beating and write a last row saying the component ``state``."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self.beat(state)
        except Exception:  # the rows age and say dead instead
            _log.warning("%s %s: last heartbeat failed", self._component, self._name, exc_info=True)

    async def __aenter__(self) -> Heartbeat:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        failed = exc is not None and not isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
        await asyncio.shield(self.stop("failed" if failed else "stopped"))

    async def beat(self, state: Literal["running", "stopped", "failed"] = "running") -> None:
        """Write one heartbeat row now."""
        progress = await self._report()
        now = time.monotonic()
        if progress.position != self._position:
            self._position = progress.position
            self._moved_at = now
        beat = Beat(
            self._component,
            self._name,
            self._member,
            self._host,
            os.getpid(),
            state,
            progress.active and state == "running",
            progress.position,
            progress.lag,
            self.interval,
            progress.error,
        )
        await self._store.save_heartbeat(beat, now - self._moved_at)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
            except Exception:
                _log.warning("%s %s: heartbeat failed", self._component, self._name, exc_info=True)


def relay_heartbeat(
    relay: Relay, *, interval: float = 1.0, forget_after: float | None = 3600.0
) -> Heartbeat:
    """A heartbeat for ``relay`` in its streaming state: its acknowledged position, and the
    events between it and the log's head as lag (``None`` while standby)."""

    async def report() -> Progress:
        status = relay.status
        lag = None
        if status.active:
            lag = max(await relay.store.head_position() - status.acked_position, 0)
        return Progress(status.active, status.acked_position, lag, status.last_error)

    return Heartbeat(
        heartbeat_store(relay.state),
        "relay",
        relay.settings.name,
        relay.owner,
        report,
        interval=interval,
        forget_after=forget_after,
    )


def member_heartbeat(
    group: ConsumerGroup, *, interval: float = 1.0, forget_after: float | None = 3600.0
) -> Heartbeat:
    """A heartbeat for one member of a consumer group, in the state where the group keeps its
    leases: the events it handled (skipped and dead-lettered ones count as progress) and the
    messages waiting in its partitions as lag."""

    async def report() -> Progress:
        handled = sum(s.handled + s.skipped + s.dead_lettered for s in group.status.stats.values())
        lag = sum((await group.lag()).values())
        return Progress(bool(group.status.partitions), handled, lag)

    return Heartbeat(
        heartbeat_store(group.state),
        "consumer",
        group.name,
        group.member,
        report,
        interval=interval,
        forget_after=forget_after,
    )


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """One relay or member as seen from its heartbeats.

    Attributes:
        state: ``running`` (active), ``standby`` (a relay without the lease, a member without
            partitions), ``stopped`` or ``failed`` as it reported them, ``dead`` (no beat for
            three intervals) or ``stuck`` (beating, behind, its position not moving for
            ``stuck_after`` seconds).
        lag: events behind at its last beat (a relay's against the head given, if any).
    """

    component: str
    name: str
    member: str
    host: str
    pid: int
    state: ComponentState
    position: int
    lag: int | None
    heartbeat_age: float
    progress_age: float
    error: str | None

    @property
    def label(self) -> str:
        """``<name>/<member>``: the ``name`` label of its metrics."""
        return f"{self.name}/{self.member}"

    def describe(self) -> str:
        """One line for people: which component, where, and what is wrong."""
        text = (
            f"{self.component} {self.name}: {self.member} on {self.host} (pid {self.pid}) "
            f"is {self.state}"
        )
        if self.state == "dead":
            text += f" (last heartbeat {self.heartbeat_age:.1f} s ago)"
        elif self.state == "stuck":
            text += f" ({self.lag} events behind, no progress for {self.progress_age:.1f} s)"
        if self.error and self.state in UNHEALTHY:
            text += f": {self.error}"
        return text


async def component_status(
    state: StreamingState,
    *,
    head: int | None = None,
    stuck_after: float = 60.0,
    include_stopped: bool = False,
) -> list[ComponentStatus]:
    """The relays and consumer-group members that beat in ``state``.

    Args:
        head: the log's head position: a relay's lag is measured against it (fresher than the
            lag it reported at its last beat).
        stuck_after: seconds without progress, while behind, that make a component stuck.
        include_stopped: also list the ones that stopped cleanly.
    """
    found = []
    for stored in await heartbeat_store(state).load_heartbeats():
        beat = stored.beat
        lag = beat.lag
        if beat.component == "relay" and head is not None and beat.active:
            lag = max(head - beat.position, 0)
        computed = _state(beat, lag, stored.heartbeat_age, stored.progress_age, stuck_after)
        if computed == "stopped" and not include_stopped:
            continue
        found.append(
            ComponentStatus(
                beat.component,
                beat.name,
                beat.member,
                beat.host,
                beat.pid,
                computed,
                beat.position,
                lag,
                stored.heartbeat_age,
                stored.progress_age,
                beat.error,
            )
        )
    return found


def _state(
    beat: Beat, lag: int | None, heartbeat_age: float, progress_age: float, stuck_after: float
) -> ComponentState:
    if beat.state != "running":
        return "failed" if beat.state == "failed" else "stopped"
    if heartbeat_age > 3 * beat.beat_every:
        return "dead"
    if not beat.active:
        return "standby"
    if lag and progress_age > stuck_after:
        return "stuck"
    return "running"
