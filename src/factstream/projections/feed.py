"""The runner's feed: a task pumping the log into a bounded queue, cut into batches."""

from __future__ import annotations

import asyncio

from ..events import RecordedEvent
from ..store import EventStore

__all__ = ["END", "WAKE", "next_batch", "pump"]

END = object()  # the store closed: the subscription ended
WAKE = object()  # stop() or new partitions: look at the flags


async def pump(store: EventStore, start: int, queue: asyncio.Queue[object]) -> None:
    """Put every event from ``start`` on ``queue``, then :data:`END` when the store closes
    (or this task is cancelled)."""
    try:
        async with store.subscribe(from_position=start) as subscription:
            async for event in subscription:
                await queue.put(event)
    finally:
        # Room for the marker: the consumer may be gone (cancelled) or draining.
        while queue.full():
            queue.get_nowait()
        queue.put_nowait(END)


async def next_batch(
    queue: asyncio.Queue[object], wait: float, batch_size: int
) -> tuple[list[RecordedEvent], bool]:
    """Up to ``batch_size`` events waiting on ``queue`` (waiting ``wait`` seconds at most
    for the first), and whether the feed ended."""
    try:
        async with asyncio.timeout(max(wait, 0.001)):
            first = await queue.get()
    except TimeoutError:
        return [], False
    batch: list[RecordedEvent] = []
    item = first
    while True:
        if item is END:
            return batch, True
        if item is not WAKE:
            batch.append(item)  # type: ignore[arg-type]
            if len(batch) >= batch_size:
                return batch, False
        try:
            item = queue.get_nowait()
        except asyncio.QueueEmpty:
            return batch, False
