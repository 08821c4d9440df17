"""The projection runner: catch up from the checkpoint, then follow the log live."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from ..events import RecordedEvent
from ..store import EventStore
from .errors import CheckpointConflict, GenerationChanged, ProjectionFailed
from .heartbeats import Heartbeat
from .policy import RetryPolicy, partition_of
from .projection import Projection
from .readmodels.base import ReadModel
from .readmodels.sql import SqlTarget
from .targets import Target, open_read_model

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["ProjectionRunner"]

_log = logging.getLogger("factstream.projections")
_END = object()  # the store closed: the subscription ended
_WAKE = object()  # stop() or new partitions: look at the flags


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
        self._owned = set(range(partitions) if owned is None else owned)
        self._model: ReadModel | None = None
        self._checkpoints: dict[int, int] = {}
        self._parked: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._until: int | None = None
        self._error: BaseException | None = None
        self._progress = asyncio.Event()
        self._queue: asyncio.Queue[object] | None = None
        self._restart = False
        self.last_progress = time.time()
        self._heartbeat: Heartbeat | None = None
        if heartbeat_interval is not None and isinstance(target, SqlTarget):
            self._heartbeat = Heartbeat(
                target, self.runner_id, projection.name, heartbeat_interval, self._report
            )

    # -- public surface -------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The position every owned partition has applied up to (the smallest checkpoint)."""
        return min(self._checkpoints.values(), default=0)

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
        return frozenset(self._owned)

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
        if owned != self._owned:
            self._owned = owned
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
        self._checkpoints = await self._model.load_checkpoints(sorted(self._owned))
        self._parked = await self._model.parked_streams()
        self._progress_set()

    def _wake(self) -> None:
        queue = self._queue
        if queue is not None and not queue.full():
            queue.put_nowait(_WAKE)

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
                    if not self._owned:
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
        return (self.generation or 0, self.position, frozenset(self._owned), self.last_progress)

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
        pump = asyncio.get_running_loop().create_task(self._pump(self.position + 1, queue))
        next_maintenance = time.monotonic()
        try:
            while not self._stopping and not self._restart and not self._done():
                now = time.monotonic()
                if now >= next_maintenance:
                    await self._maintain()
                    next_maintenance = now + self.maintenance_interval
                batch, ended = await self._next_batch(queue, next_maintenance - now)
                if batch:
                    if self.tracer_provider is None:
                        await self._process(batch)
                    else:
                        await self._traced_process(batch)
                if ended:
                    if pump.done() and pump.exception() is not None:
                        raise pump.exception()  # type: ignore[misc]
                    return
        finally:
            self._queue = None
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump

    async def _pump(self, start: int, queue: asyncio.Queue[object]) -> None:
        try:
            async with self.store.subscribe(from_position=start) as subscription:
                async for event in subscription:
                    await queue.put(event)
        finally:
            # Room for the marker: the consumer may be gone (cancelled) or draining.
            while queue.full():
                queue.get_nowait()
            queue.put_nowait(_END)

    async def _next_batch(
        self, queue: asyncio.Queue[object], wait: float
    ) -> tuple[list[RecordedEvent], bool]:
        try:
            async with asyncio.timeout(max(wait, 0.001)):
                first = await queue.get()
        except TimeoutError:
            return [], False
        batch: list[RecordedEvent] = []
        item = first
        while True:
            if item is _END:
                return batch, True
            if item is not _WAKE:
                batch.append(item)  # type: ignore[arg-type]
                if len(batch) >= self.batch_size:
                    return batch, False
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return batch, False

    # -- applying -------------------------------------------------------------------------

    def _sort(
        self, events: Sequence[RecordedEvent]
    ) -> tuple[list[RecordedEvent], list[RecordedEvent], dict[int, int]]:
        """Split a batch into events to apply and events to park; the new checkpoints."""
        projection, parked, checkpoints = self.projection, self._parked, self._checkpoints
        partitions, owned = self.partitions, self._owned
        to_apply: list[RecordedEvent] = []
        to_park: list[RecordedEvent] = []
        for event in events:
            if partitions > 1:
                partition = partition_of(event.stream_id, partitions)
                if partition not in owned or event.position <= checkpoints[partition]:
                    continue
            if event.stream_id in parked:
                to_park.append(event)
            elif projection.handles_event(event):
                to_apply.append(event)
        last = events[-1].position
        return to_apply, to_park, {p: max(c, last) for p, c in checkpoints.items()}

    async def _process(self, events: list[RecordedEvent]) -> None:
        to_apply, to_park, positions = self._sort(events)
        assert self._model is not None
        batch = self._model.transaction()
        try:
            await batch.begin(self._checkpoints)
            if to_apply:
                await self.projection.apply(to_apply, batch.handle)
            for event in to_park:
                batch.park(event, None, 0)
            batch.advance(positions)
            callbacks = await batch.commit()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await batch.rollback()
            if isinstance(exc, (CheckpointConflict, GenerationChanged)):
                raise
            if self._model.is_transient(exc):
                raise
            if not to_apply:
                raise  # nothing of a handler's ran: the failure is the database's
            await self._one_by_one(events)
            return
        await _run_callbacks(callbacks)  # first: a reader woken by wait_for sees them done
        self._committed(positions)

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

    def _committed(self, positions: dict[int, int]) -> None:
        if positions != self._checkpoints:
            self._checkpoints = positions
            self.last_progress = time.time()
            self._progress_set()
            if self.on_commit is not None:
                self.on_commit(self.position)

    async def _one_by_one(self, events: list[RecordedEvent]) -> None:
        """After a failed batch: find the failing event by applying one event per
        transaction, retry it, park it if it keeps failing, and go on."""
        pending_parks: list[RecordedEvent] = []
        pending: dict[int, int] | None = None
        for event in events:
            to_apply, to_park, positions = self._sort([event])
            if not to_apply:
                pending_parks.extend(to_park)
                pending = positions
                continue
            if pending is not None:
                await self._commit_single(pending_parks, pending)
                pending_parks, pending = [], None
            await self._apply_with_retries(event, positions)
        if pending is not None:
            await self._commit_single(pending_parks, pending)

    async def _commit_single(self, to_park: list[RecordedEvent], positions: dict[int, int]) -> None:
        assert self._model is not None
        batch = self._model.transaction()
        try:
            await batch.begin(self._checkpoints)
            for parked in to_park:
                batch.park(parked, None, 0)
            batch.advance(positions)
            callbacks = await batch.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                await batch.rollback()
            raise
        await _run_callbacks(callbacks)  # first: a reader woken by wait_for sees them done
        self._committed(positions)

    async def _apply_with_retries(
        self, event: RecordedEvent, positions: dict[int, int] | None
    ) -> bool:
        """Apply one event, retrying with backoff; park it when the policy is used up.

        ``positions`` is the checkpoint to commit with it (``None`` for a parked event being
        retried, which is removed from the dead letters instead). Returns whether it applied.
        """
        assert self._model is not None
        policy, model = self.retry, self._model
        error = ""
        for attempt in range(1, policy.attempts + 1):
            if attempt > 1:
                await asyncio.sleep(policy.delay(attempt - 1))
            batch = model.transaction()
            try:
                await batch.begin(self._checkpoints)
                await self.projection.apply([event], batch.handle)
                if positions is None:
                    batch.unpark(event)
                else:
                    batch.advance(positions)
                callbacks = await batch.commit()
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await batch.rollback()
                if isinstance(exc, (CheckpointConflict, GenerationChanged)):
                    raise
                if model.is_transient(exc):
                    raise
                error = "".join(traceback.format_exception_only(exc)).strip()
                _log.warning(
                    "projection %s: event %s at position %d (stream %r) failed, attempt %d "
                    "of %d: %s",
                    self.projection.name,
                    event.type,
                    event.position,
                    event.stream_id,
                    attempt,
                    policy.attempts,
                    error,
                )
                continue
            await _run_callbacks(callbacks)
            if positions is not None:
                self._committed(positions)
            return True
        _log.error(
            "projection %s: parking event %s at position %d; stream %r waits behind it",
            self.projection.name,
            event.type,
            event.position,
            event.stream_id,
        )
        batch = model.transaction()
        try:
            await batch.begin(self._checkpoints)
            batch.park(event, error, policy.attempts)
            if positions is not None:
                batch.advance(positions)
            await batch.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                await batch.rollback()
            raise
        self._parked.add(event.stream_id)
        if positions is not None:
            self._committed(positions)
        return False

    async def _maintain(self) -> None:
        """Replay the parked streams someone asked to retry; notice skipped ones."""
        model = self._model
        assert model is not None
        for stream_id in await model.retry_requests():
            if self.partitions > 1 and partition_of(stream_id, self.partitions) not in self._owned:
                continue
            for letter in await model.parked_in_stream(stream_id):
                applied = await self._apply_with_retries(letter.event, None)
                if not applied:
                    break
        self._parked = await model.parked_streams()


async def _run_callbacks(callbacks: list[Callable[[], Any]]) -> None:
    for callback in callbacks:
        try:
            result = callback()
            if inspect.isawaitable(result):
                await result
        except Exception:
            _log.exception("an after-commit callback failed")
