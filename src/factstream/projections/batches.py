"""Applying batches: which events of a batch to apply or park, and committing them with the
checkpoints in one transaction. A batch whose handler fails goes to the retry/park path
(:mod:`.parking`)."""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..events import RecordedEvent
from .errors import CheckpointConflict, GenerationChanged
from .policy import RetryPolicy, partition_of
from .projection import Projection
from .readmodels.base import BatchTransaction, ReadModel

__all__ = ["BatchApplier", "rolled_back", "run_callbacks"]

_log = logging.getLogger("factstream.projections")


class BatchApplier:
    """A runner's applying state: the read model it writes, the partitions it owns, their
    checkpoints and the parked streams. ``on_progress`` is called when the checkpoints move."""

    def __init__(
        self,
        projection: Projection[Any],
        retry: RetryPolicy,
        partitions: int,
        owned: Iterable[int],
        on_progress: Callable[[], None],
    ) -> None:
        self.projection = projection
        self.retry = retry
        self.partitions = partitions
        self.owned = set(owned)
        self.model: ReadModel | None = None
        self.checkpoints: dict[int, int] = {}
        self.parked: set[str] = set()
        self._on_progress = on_progress

    @property
    def position(self) -> int:
        """The position every owned partition has applied up to (the smallest checkpoint)."""
        return min(self.checkpoints.values(), default=0)

    async def load(self, model: ReadModel) -> None:
        """Write to ``model`` from its stored checkpoints and parked streams."""
        self.model = model
        self.checkpoints = await model.load_checkpoints(sorted(self.owned))
        self.parked = await model.parked_streams()

    def sort(
        self, events: Sequence[RecordedEvent]
    ) -> tuple[list[RecordedEvent], list[RecordedEvent], dict[int, int]]:
        """Split a batch into events to apply and events to park; the new checkpoints."""
        projection, parked, checkpoints = self.projection, self.parked, self.checkpoints
        partitions, owned = self.partitions, self.owned
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

    async def process(self, events: list[RecordedEvent]) -> bool:
        """Apply a batch in one transaction. Returns ``False`` when a handler failed (the
        batch is rolled back; :func:`.parking.one_by_one` finds the event and retries or parks
        it). The database's errors and checkpoint conflicts raise."""
        to_apply, to_park, positions = self.sort(events)
        assert self.model is not None
        batch = self.model.transaction()
        try:
            await batch.begin(self.checkpoints)
            if to_apply:
                await self.projection.apply(to_apply, batch.handle)
            for event in to_park:
                batch.park(event, None, 0)
            batch.advance(positions)
            callbacks = await batch.commit()
        except Exception as exc:
            await rolled_back(batch, self.model, exc)
            if not to_apply:
                raise  # nothing of a handler's ran: the failure is the database's
            return False
        await run_callbacks(callbacks)  # first: a reader woken by wait_for sees them done
        self.committed(positions)
        return True

    async def commit_parked(self, to_park: list[RecordedEvent], positions: dict[int, int]) -> None:
        """Park ``to_park`` and move the checkpoints to ``positions``, applying nothing."""
        assert self.model is not None
        batch = self.model.transaction()
        try:
            await batch.begin(self.checkpoints)
            for parked in to_park:
                batch.park(parked, None, 0)
            batch.advance(positions)
            callbacks = await batch.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                await batch.rollback()
            raise
        await run_callbacks(callbacks)  # first: a reader woken by wait_for sees them done
        self.committed(positions)

    def committed(self, positions: dict[int, int]) -> None:
        if positions != self.checkpoints:
            self.checkpoints = positions
            self._on_progress()


async def rolled_back(batch: BatchTransaction, model: ReadModel, error: Exception) -> None:
    """Roll ``batch`` back after ``error``; raise ``error`` again unless a handler may be to
    blame (checkpoint conflicts, generation changes and the database's own errors go up)."""
    with contextlib.suppress(Exception):
        await batch.rollback()
    if isinstance(error, (CheckpointConflict, GenerationChanged)) or model.is_transient(error):
        raise error


async def run_callbacks(callbacks: list[Callable[[], Any]]) -> None:
    """Run a committed batch's after-commit callbacks; one that fails is logged."""
    for callback in callbacks:
        try:
            result = callback()
            if inspect.isawaitable(result):
                await result
        except Exception:
            _log.exception("an after-commit callback failed")
