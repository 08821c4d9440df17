"""A partitioned worker process of the ordered ledger projection, run until killed.

Usage: projection_partition_worker.py STORE_URL TARGET PARTITIONS LEASE_TIMEOUT
    TARGET: ``sqlite:PATH`` or ``postgres:DSN#SCHEMA``. Prints ``HOLD p,q,...`` whenever the
    partitions it holds change.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import factstream as fs
from factstream.projections import PartitionedWorker, Projection, SqlTransaction

from .projection_worker import parse_target


class OrderedLedger(Projection[SqlTransaction]):
    """Records each applied position (a repeat shows) and counts, per stream, events applied
    out of version order."""

    name = "ordered_ledger"
    tables = {  # noqa: RUF012
        "applied": "CREATE TABLE {applied} (position BIGINT NOT NULL, stream_id TEXT NOT NULL)",
        "streams": (
            "CREATE TABLE {streams} (stream_id TEXT PRIMARY KEY, last_version BIGINT NOT NULL, "
            "disorder BIGINT NOT NULL)"
        ),
    }
    event_types = None

    async def apply(self, events: Sequence[fs.RecordedEvent], tx: SqlTransaction) -> None:
        for event in events:
            tx.execute(
                "INSERT INTO {applied} (position, stream_id) VALUES (?, ?)",
                (event.position, event.stream_id),
            )
            tx.execute(
                "INSERT INTO {streams} (stream_id, last_version, disorder) VALUES (?, ?, ?) "
                "ON CONFLICT (stream_id) DO UPDATE SET last_version = excluded.last_version, "
                "disorder = {streams}.disorder + CASE WHEN excluded.last_version = "
                "{streams}.last_version + 1 THEN 0 ELSE 1 END",
                (event.stream_id, event.version, 0 if event.version == 1 else 1),
            )


async def main(store_url: str, target: str, partitions: int, lease_timeout: float) -> None:
    async with fs.connect(store_url) as store:
        worker = PartitionedWorker(
            store,
            OrderedLedger(),
            parse_target(target),
            partitions=partitions,
            lease_timeout=lease_timeout,
            batch_size=50,
            on_change=lambda held: print("HOLD " + ",".join(map(str, sorted(held))), flush=True),
        )
        async with worker:
            await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
