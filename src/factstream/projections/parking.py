"""The retry/park path: after a batch failed, find the failing event by applying one event
per transaction, retry it with backoff, park it (and its stream behind it) as a dead letter
when the policy is used up; replay parked streams someone asked to retry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback

from ..events import RecordedEvent
from .batches import BatchApplier, rolled_back, run_callbacks
from .policy import partition_of

__all__ = ["apply_with_retries", "maintain", "one_by_one"]

_log = logging.getLogger("factstream.projections")


async def one_by_one(applier: BatchApplier, events: list[RecordedEvent]) -> None:
    """After a failed batch: apply its events one per transaction (retrying and parking the
    failing one), and go on."""
    pending_parks: list[RecordedEvent] = []
    pending: dict[int, int] | None = None
    for event in events:
        to_apply, to_park, positions = applier.sort([event])
        if not to_apply:
            pending_parks.extend(to_park)
            pending = positions
            continue
        if pending is not None:
            await applier.commit_parked(pending_parks, pending)
            pending_parks, pending = [], None
        await apply_with_retries(applier, event, positions)
    if pending is not None:
        await applier.commit_parked(pending_parks, pending)


async def apply_with_retries(
    applier: BatchApplier, event: RecordedEvent, positions: dict[int, int] | None
) -> bool:
    """Apply one event, retrying with backoff; park it when the policy is used up.

    ``positions`` is the checkpoint to commit with it (``None`` for a parked event being
    retried, which is removed from the dead letters instead). Returns whether it applied.
    """
    assert applier.model is not None
    policy, model, name = applier.retry, applier.model, applier.projection.name
    error = ""
    for attempt in range(1, policy.attempts + 1):
        if attempt > 1:
            await asyncio.sleep(policy.delay(attempt - 1))
        batch = model.transaction()
        try:
            await batch.begin(applier.checkpoints)
            await applier.projection.apply([event], batch.handle)
            if positions is None:
                batch.unpark(event)
            else:
                batch.advance(positions)
            callbacks = await batch.commit()
        except Exception as exc:
            await rolled_back(batch, model, exc)
            error = "".join(traceback.format_exception_only(exc)).strip()
            _log.warning(
                "projection %s: event %s at position %d (stream %r) failed, attempt %d of %d: %s",
                name,
                event.type,
                event.position,
                event.stream_id,
                attempt,
                policy.attempts,
                error,
            )
            continue
        await run_callbacks(callbacks)
        if positions is not None:
            applier.committed(positions)
        return True
    _log.error(
        "projection %s: parking event %s at position %d; stream %r waits behind it",
        name,
        event.type,
        event.position,
        event.stream_id,
    )
    batch = model.transaction()
    try:
        await batch.begin(applier.checkpoints)
        batch.park(event, error, policy.attempts)
        if positions is not None:
            batch.advance(positions)
        await batch.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            await batch.rollback()
        raise
    applier.parked.add(event.stream_id)
    if positions is not None:
        applier.committed(positions)
    return False


async def maintain(applier: BatchApplier) -> None:
    """Replay the parked streams someone asked to retry; notice skipped ones."""
    model = applier.model
    assert model is not None
    for stream_id in await model.retry_requests():
        if (
            applier.partitions > 1
            and partition_of(stream_id, applier.partitions) not in applier.owned
        ):
            continue
        for letter in await model.parked_in_stream(stream_id):
            applied = await apply_with_retries(applier, letter.event, None)
            if not applied:
                break
    applier.parked = await model.parked_streams()
