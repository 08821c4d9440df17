"""A process that runs the ledger projection until it is killed.

Usage: projection_worker.py STORE_URL TARGET MODE BATCH_SIZE [HEARTBEAT_SECONDS]
    TARGET: ``sqlite:PATH`` or ``postgres:DSN#SCHEMA``.
    MODE: ``run`` prints each committed checkpoint; ``block-at:N`` sends the writes of the batch
    so far to the database (inside the open transaction), prints ``MID N`` when it reaches the
    event at position N, and hangs there.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import factstream as fs
from factstream.projections import (
    PostgresTarget,
    Projection,
    ProjectionRunner,
    SqliteTarget,
    SqlTarget,
    SqlTransaction,
)


class Ledger(Projection[SqlTransaction]):
    """Records every applied position (no key, so a repeat shows) and sums per stream."""

    name = "ledger"
    tables = {  # noqa: RUF012
        "applied": "CREATE TABLE {applied} (position BIGINT NOT NULL, stream_id TEXT NOT NULL)",
        "totals": (
            "CREATE TABLE {totals} (stream_id TEXT PRIMARY KEY, events BIGINT NOT NULL, "
            "amount BIGINT NOT NULL)"
        ),
    }
    event_types = None
    block_at: int | None = None

    async def apply(self, events: Sequence[fs.RecordedEvent], tx: SqlTransaction) -> None:
        for event in events:
            tx.execute(
                "INSERT INTO {applied} (position, stream_id) VALUES (?, ?)",
                (event.position, event.stream_id),
            )
            tx.execute(
                "INSERT INTO {totals} VALUES (?, 1, ?) ON CONFLICT (stream_id) DO UPDATE SET "
                "events = {totals}.events + 1, amount = {totals}.amount + excluded.amount",
                (event.stream_id, event.data["amount"]),
            )
            if event.position == self.block_at:
                await tx.fetch("SELECT count(*) FROM {applied}")  # flush into the open tx
                print(f"MID {event.position}", flush=True)
                await asyncio.Event().wait()


def parse_target(spec: str) -> SqlTarget:
    kind, _, rest = spec.partition(":")
    if kind == "sqlite":
        return SqliteTarget(rest)
    dsn, _, schema = rest.partition("#")
    return PostgresTarget(dsn, schema)


async def main(
    store_url: str, target: str, mode: str, batch_size: int, heartbeat: float = 5.0
) -> None:
    projection = Ledger()
    if mode.startswith("block-at:"):
        projection.block_at = int(mode.split(":", 1)[1])
    async with fs.connect(store_url) as store:
        runner = ProjectionRunner(
            store,
            projection,
            parse_target(target),
            batch_size=batch_size,
            heartbeat_interval=heartbeat,
            on_commit=lambda position: print(position, flush=True),
        )
        await runner.run()


if __name__ == "__main__":
    extra = [float(sys.argv[5])] if len(sys.argv) > 5 else []
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), *extra))
