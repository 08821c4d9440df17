"""The orders system's projection runners by name: started and stopped together, and rebuilt
or reset while the system runs (the console's buttons, through ``factstream.http``'s
``ProjectionControl`` port).

A reset stops the projection's runner, deletes its read model (every generation, checkpoints,
dead letters) and starts a new runner, which builds it again from position 1. A rebuild fills a
new generation beside the live one and swaps it in; the live runner follows the swap. Callers
keep working through a reset: they wait through :meth:`ReadModels.waiter`, which always asks
the current runner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import factstream as fs
from factstream.projections import SqlTarget
from factstream.projections.generations import drop_projection
from factstream.projections.rebuild import rebuild

__all__ = ["ReadModels", "Waiter"]

ProjectionFactory = Callable[[], fs.Projection[Any]]
_SLICE = 0.5


class Waiter:
    """``wait_for(position, timeout)`` of whichever runner currently runs a projection (a
    ``ConsistencyWaiter`` for the HTTP layer)."""

    def __init__(self, read_models: ReadModels, name: str) -> None:
        self._read_models = read_models
        self._name = name

    async def wait_for(self, position: int, timeout: float | None = None) -> bool:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            # In slices: a runner replaced by a reset stops moving, so look again now and then.
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            step = _SLICE if remaining is None else min(remaining, _SLICE)
            if await self._read_models.runner(self._name).wait_for(position, step):
                return True
            if remaining is not None and remaining <= step:
                return False


class ReadModels:
    """Projection runners by name over one store and one SQL target.

    Args:
        store: the event store the runners read.
        target: where the read models live.
        projections: the projection of each name, made anew for each runner.
        runner_options: keyword arguments of every ``ProjectionRunner``.
    """

    def __init__(
        self,
        store: fs.EventStore,
        target: SqlTarget,
        projections: Mapping[str, ProjectionFactory],
        runner_options: Mapping[str, Any],
    ) -> None:
        self.store = store
        self.target = target
        self._factories = dict(projections)
        self._options = dict(runner_options)
        self._runners: dict[str, fs.ProjectionRunner] = {}
        self._locks = {name: asyncio.Lock() for name in self._factories}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._factories)

    def _new_runner(self, name: str) -> fs.ProjectionRunner:
        return fs.ProjectionRunner(
            self.store, self._factories[name](), self.target, **self._options
        )

    async def start(self) -> None:
        """Start every runner, one after the other (each may create read-side tables)."""
        for name in self._factories:
            runner = self._new_runner(name)
            await runner.start()
            self._runners[name] = runner

    async def stop(self) -> None:
        """Stop every runner."""
        for runner in list(self._runners.values()):
            await runner.stop()

    def runner(self, name: str) -> fs.ProjectionRunner:
        """The runner now running projection ``name``.

        Raises:
            KeyError: no such projection (or not started).
        """
        return self._runners[name]

    def waiter(self, name: str) -> Waiter:
        if name not in self._factories:
            raise KeyError(name)
        return Waiter(self, name)

    async def rebuild_projection(self, name: str) -> str | None:
        """Build projection ``name`` again in a new generation and swap it in; None when
        there is no such projection."""
        if name not in self._factories:
            return None
        async with self._locks[name]:
            number = await rebuild(self.store, self._factories[name](), self.target)
        return f"generation {number} of {name} is active"

    async def _drop(self, name: str) -> int:
        session = await self.target.connect()
        try:
            await session.migrate()
            return await drop_projection(session, name)
        finally:
            await session.close()

    async def reset_projection(self, name: str) -> str | None:
        """Stop the runner of ``name``, delete its read model, start a new runner from
        position 1; None when there is no such projection."""
        if name not in self._factories:
            return None
        async with self._locks[name]:
            await self._runners[name].stop()
            try:
                dropped = await self._drop(name)
            finally:
                # Even when the drop failed (one transaction: nothing was dropped), the
                # projection runs again, from its checkpoint then.
                runner = self._new_runner(name)
                await runner.start()
                self._runners[name] = runner
        return f"{dropped} generation(s) deleted; building again from position 1"
