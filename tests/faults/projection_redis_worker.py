"""A process that runs the Redis ledger projection until it is killed.

Usage: projection_redis_worker.py STORE_URL REDIS_URL PREFIX MODE BATCH_SIZE
    MODE: ``run`` prints each committed checkpoint; ``block-at:N`` queues the batch's writes up
    to the event at position N, prints ``MID N`` and hangs there (inside the batch).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import factstream as fs
from factstream.projections import Projection, ProjectionRunner, RedisTarget, RedisTransaction


class RedisLedger(Projection[RedisTransaction]):
    """Appends every applied position to a list (a repeat shows) and sums per stream."""

    name = "ledger"
    event_types = None
    block_at: int | None = None

    async def apply(self, events: Sequence[fs.RecordedEvent], tx: RedisTransaction) -> None:
        for event in events:
            tx.rpush("applied", event.position)
            tx.hincrby("events", event.stream_id, 1)
            tx.hincrby("amount", event.stream_id, event.data["amount"])
            if event.position == self.block_at:
                print(f"MID {event.position}", flush=True)
                await asyncio.Event().wait()


async def main(store_url: str, redis_url: str, prefix: str, mode: str, batch_size: int) -> None:
    projection = RedisLedger()
    if mode.startswith("block-at:"):
        projection.block_at = int(mode.split(":", 1)[1])
    async with fs.connect(store_url) as store:
        runner = ProjectionRunner(
            store,
            projection,
            RedisTarget(redis_url, prefix),
            batch_size=batch_size,
            on_commit=lambda position: print(position, flush=True),
        )
        await runner.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
