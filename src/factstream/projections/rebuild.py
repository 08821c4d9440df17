"""Rebuild without downtime: a new generation is filled in shadow tables from position 1
while the active one keeps serving, then swapped in atomically."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..store import EventStore
from .generations import create_generation, swap
from .projection import Projection
from .readmodels.sql import SqlTarget
from .runner import ProjectionRunner

__all__ = ["rebuild"]

_log = logging.getLogger("factstream.projections")


async def rebuild(
    store: EventStore,
    projection: Projection[Any],
    target: SqlTarget,
    *,
    batch_size: int = 1000,
    on_progress: Callable[[int, int], None] | None = None,
    drop_old: bool = True,
) -> int:
    """Build ``projection``'s read model again from the whole log, in shadow tables, then
    swap it in: queries (through the views) see the old generation until the swap and the
    new one after it, never a half-built one. The live runner, if any, notices the swap at
    its next batch and continues on the new generation from its checkpoint.

    The shadow is caught up with the head twice (the second pass picks up what was appended
    during the first) before the swap, so the new generation starts close to the head.

    Args:
        on_progress: called with ``(position, head)`` after each batch (progress bars).
        drop_old: drop the old generation's tables in the swap transaction.

    Returns:
        The new generation's number.
    """
    session = await target.connect()
    try:
        await session.migrate()
        generation = await create_generation(session, projection, state="building")
        _log.info("projection %s: building generation %d", projection.name, generation.number)
        head = 0
        for _ in range(2):
            head = await store.head_position()
            final = head

            def progress(position: int, final: int = final) -> None:
                if on_progress is not None:
                    on_progress(position, final)

            shadow = ProjectionRunner(
                store,
                projection,
                target,
                batch_size=batch_size,
                generation=generation.number,
                on_commit=progress,
            )
            await shadow.catch_up(head)
        await swap(session, projection.name, generation.number, drop_old=drop_old)
        _log.info(
            "projection %s: generation %d is active (built up to %d)",
            projection.name,
            generation.number,
            head,
        )
        return generation.number
    finally:
        await session.close()
