"""The projection runner: catch up from the checkpoint, then follow the log live."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from ..events import RecordedEvent
from ..store import EventStore
from .batches import BatchApplier
from .errors import CheckpointConflict, GenerationChanged, ProjectionFailed
from .feed import WAKE, next_batch, pump
from .heartbeats import Heartbeat
from .parking import maintain, one_by_one
from .policy import RetryPolicy
from .projection import Projection
from .readmodels.base import ReadModel
from .readmodels.redis_runners import RedisHeartbeat
from .readmodels.sql import SqlTarget
from .targets import Target, open_read_model

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["ProjectionRunner"]

_log = logging.getLogger("factstream.projections")


class ProjectionRunner:
    """Keeps one projection's read model up to date with the log.

    It reads the checkpoint, catches up from there in batches, then follows new events live.
    Each batch's read-model writes and the checkpoint commit in one transaction (SQL
    targets) or one atomic script (Redis), so a restart, even after SIGKILL in the middle of
    a batch, resumes exactly: nothing applied twice, nothing lost.

    A handler that fails is retried with backoff (:class:`RetryPolicy`); then the event and
    every later event of its stream are parked as dead letters while other streams go on.

    ::

        async with fs.ProjectionRunner(store, OrdersByCustomer(), fs.SqliteTarget("rm.db")) as r:
            result = await store.append(...)
            await r.wait_for(result.position, timeout=5)   # read your writes

    Args:
        store: the event store to read.
        projection: the projection to run.
        target: where the read model lives (:class:`SqliteTarget`, :class:`PostgresTarget`,
            :class:`RedisTarget`).
        batch_size: the most events applied in one transaction.
        retry: how a failing event is retried before it is parked.
        maintenance_interval: seconds between looks for dead-letter retry requests.
        generation: run a given generation (a shadow being rebuilt) instead of the active one.
        partitions: how many partitions the projection's streams are hashed into.
        owned: the partitions this runner applies (all by default); see
            :class:`PartitionedWorker` for sharing them between processes.
        runner_id: this runner's id in heartbeats and leases (a new UUID by default).
        heartbeat_interval: seconds between heartbeats stored with the read model (SQL
            targets), so ``factstream projections status`` can tell dead and stuck runners;
            ``None`` for none.
        on_commit: called with the checkpoint after each committed batch (progress bars).
        tracer_provider: when given (extra ``otel``), each batch is applied in a ``process
            factstream`` consumer span: a batch of one event committed within the last minute
            (the live case) continues the event's trace; a larger batch or an older event
            (catching up, rebuilding) only links to the traces.
            Without one, OpenTelemetry is not imported.
    """

    def __init__(
        self,
        store: EventStore,
        projection: Projection[Any],
        target: Target,
        *,
        batch_size: int = 1000,
        retry: RetryPolicy | None = None,
        maintenance_interval: float = 1.0,
        generation: int | None = None,
        partitions: int = 1,
        owned: Iterable[int] | None = None,
        runner_id: str | None = None,
        heartbeat_interval: float | None = 5.0,
        on_commit: Callable[[int], None] | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        self.store = store
        self.projection = projection
        self.target = target
        self.batch_size = batch_size
        self.retry = retry or RetryPolicy()
        self.maintenance_interval = maintenance_interval
        self.partitions = partitions
        self.runner_id = runner_id or str(uuid.uuid4())
        self.on_commit = on_commit
        self.tracer_provider = tracer_provider
        self._generation = generation
        self._batches = BatchApplier(
            projection,
            self.retry,
            partitions,
            range(partitions) if owned is None else owned,
            self._moved,
        )
        self._model: ReadModel | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._until: int | None = None
        self._error: BaseException | None = None
        self._progress = asyncio.Event()
        self._queue: asyncio.Queue[object] | None = None
        self._restart = False
        self.last_progress = time.time()
        self._heartbeat: Heartbeat | None = None
        if heartbeat_interval is not None:
            kind = Heartbeat if isinstance(target, SqlTarget) else RedisHeartbeat
            self._heartbeat = kind(
                target, self.runner_id, projection.name, heartbeat_interval, self._report
            )

    # -- public surface -------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The position every owned partition has applied up to (the smallest checkpoint)."""
        return self._batches.position

    @property
    def generation(self) -> int | None:
        """The generation being written (``None`` before the runner has started)."""
        return None if self._model is None else self._model.generation

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def error(self) -> BaseException | None:
        """What stopped the runner, if it failed."""
        return self._error

    @property
    def owned(self) -> frozenset[int]:
        return frozenset(self._batches.owned)

    async def start(self) -> None:
        """Open the read model (creating it on first use), load the checkpoint and start
        applying in a background task.

        Raises:
            ProjectionOutdated: the read model was built by another version of the projection.
        """
        if self._task is not None:
            raise RuntimeError("the runner is started already")
        await self._open()
        if self._heartbeat is not None:
            await self._heartbeat.start()
        self._task = asyncio.get_running_loop().create_task(
            self._main(), name=f"factstream-projection-{self.projection.name}"
        )

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the batch in progress, then stop and close the read model's connection.

        Args:
            grace: seconds to let the batch in progress finish; after that it is cancelled
                (and rolled back: nothing of it is applied).
        """
        self._stopping = True
        self._wake()
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=grace)
            if not task.done():
                task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._heartbeat is not None:
            error = self._error
            await self._heartbeat.stop(
                "failed" if error is not None else "stopped",
                None if error is None else "".join(traceback.format_exception_only(error)),
            )
        if self._model is not None:
            model, self._model = self._model, None
            with contextlib.suppress(Exception):
                await model.close()

    async def run(self) -> None:
        """Start and run until :meth:`stop` or the store closes.

        Raises:
            ProjectionFailed: the runner stopped on an error it could not handle.
        """
        await self.start()
        try:
            await self._wait_task()
        finally:
            await self.stop()

    async def catch_up(self, until: int | None = None) -> int:
        """Apply everything up to ``until`` (default: the log's head now), then stop.

        Returns:
            The checkpoint reached.
        """
        target = await self.store.head_position() if until is None else until
        self._until = target
        await self._open()
        if self._heartbeat is not None:
            await self._heartbeat.start()
        if self.position >= target:
            await self.stop()
            return self.position
        self._task = asyncio.get_running_loop().create_task(self._main())
        try:
            await self._wait_task()
        finally:
            await self.stop()
        return self.position

    async def wait_for(self, position: int, timeout: float | None = None) -> bool:
        """Wait until the read model reflects every event up to ``position`` (an
        ``AppendResult.position``: read your own writes).

        Returns:
            ``True`` once it does; ``False`` after ``timeout`` seconds if it does not yet
            (answer from the read model flagged as stale, or try again).

        Raises:
            ProjectionFailed: the runner stopped on an error.
        """
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while self.position < position:
            if self._error is not None:
                raise ProjectionFailed(f"projection {self.projection.name!r} failed") from (
                    self._error
                )
            progress = self._progress
            if deadline is None:
                await progress.wait()
                continue
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await progress.wait()
        return True

    def set_owned(self, partitions: Iterable[int]) -> None:
        """Change the partitions this runner applies (used by :class:`PartitionedWorker`).

        The runner finishes its batch, loads the new partitions' checkpoints and reads on
        from the lowest one.
        """
        owned = set(partitions)
        if owned != self._batches.owned:
            self._batches.owned = owned
            self._restart = True
            self._wake()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- the loop -------------------------------------------------------------------------

    async def _wait_task(self) -> None:
        assert self._task is not None
        await asyncio.shield(self._task)
        if self._error is not None:
            raise ProjectionFailed(f"projection {self.projection.name!r} failed") from self._error

    async def _open(self) -> None:
        if self._model is None:
            self._model = await open_read_model(self.target, self.projection, self._generation)
        await self._batches.load(self._model)
        self._progress_set()

    def _wake(self) -> None:
        queue = self._queue
        if queue is not None and not queue.full():
            queue.put_nowait(WAKE)

    def _progress_set(self) -> None:
        progress = self._progress
        self._progress = asyncio.Event()
        progress.set()

    async def _main(self) -> None:
        failures = 0
        try:
            while not self._stopping and not self._done():
                try:
                    if self._model is None or self._restart:
                        self._restart = False
                        await self._open()
                    if not self._batches.owned:
                        await self._idle()  # a partitioned worker holding no lease yet
                        continue
                    await self._follow()
                    failures = 0
                    if self.store_closed():
                        return
                except (CheckpointConflict, GenerationChanged) as exc:
                    _log.warning("projection %s: %s; reloading", self.projection.name, exc)
                    await self._reopen(exc)
                except Exception as exc:
                    if self._model is None or not self._model.is_transient(exc):
                        raise
                    failures += 1
                    delay = self.retry.delay(min(failures, 10))
                    _log.warning(
                        "projection %s: the read model's database failed (%s); retrying in %.2fs",
                        self.projection.name,
                        exc,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    await self._reopen(exc)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                _log.error("projection %s failed", self.projection.name, exc_info=True)
                self._error = exc
                if self._heartbeat is not None:
                    await self._heartbeat.stop(
                        "failed", "".join(traceback.format_exception_only(exc)).strip()
                    )
            raise
        finally:
            self._progress_set()

    def _report(self) -> tuple[int, int, frozenset[int], float]:
        return (self.generation or 0, self.position, self.owned, self.last_progress)

    def store_closed(self) -> bool:
        return bool(getattr(self.store, "closed", False))

    def _done(self) -> bool:
        return self._until is not None and self.position >= self._until

    async def _reopen(self, cause: BaseException) -> None:
        model, self._model = self._model, None
        if model is not None:
            with contextlib.suppress(Exception):
                await model.close()
        if isinstance(cause, GenerationChanged):
            self._generation = None  # follow the new active generation
        self._restart = True

    async def _idle(self) -> None:
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1)
        self._queue = queue
        try:
            while not self._stopping and not self._restart:
                await queue.get()
        finally:
            self._queue = None

    async def _follow(self) -> None:
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=2 * self.batch_size)
        self._queue = queue
        pumping = asyncio.get_running_loop().create_task(pump(self.store, self.position + 1, queue))
        next_maintenance = time.monotonic()
        try:
            while not self._stopping and not self._restart and not self._done():
                now = time.monotonic()
                if now >= next_maintenance:
                    await maintain(self._batches)
                    next_maintenance = now + self.maintenance_interval
                batch, ended = await next_batch(queue, next_maintenance - now, self.batch_size)
                if batch:
                    if self.tracer_provider is None:
                        await self._process(batch)
                    else:
                        await self._traced_process(batch)
                if ended:
                    if pumping.done() and pumping.exception() is not None:
                        raise pumping.exception()  # type: ignore[misc]
                    return
        finally:
            self._queue = None
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pumping

    # -- applying -------------------------------------------------------------------------

    async def _process(self, events: list[RecordedEvent]) -> None:
        if not await self._batches.process(events):
            await one_by_one(self._batches, events)

    async def _traced_process(self, events: list[RecordedEvent]) -> None:
        from ..observability.tracing import is_live, process_span

        # One recent event in a batch means the runner was waiting for it: a live event.
        with process_span(
            events,
            consumer=self.projection.name,
            live=len(events) == 1 and is_live(events[0]),
            tracer_provider=self.tracer_provider,
        ) as span:
            await self._process(events)
            span.set_attribute("factstream.checkpoint", self.position)

    def _moved(self) -> None:
        """The checkpoints moved (a batch committed)."""
        self.last_progress = time.time()
        self._progress_set()
        if self.on_commit is not None:
            self.on_commit(self.position)
