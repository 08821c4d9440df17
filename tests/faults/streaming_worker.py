"""A relay or a consumer-group member in its own process, for the kill -9 tests.

    python -m tests.faults.streaming_worker relay  DB NATS_URL PREFIX OWNER
    python -m tests.faults.streaming_worker member DB NATS_URL PREFIX OWNER EFFECTS_DB

A member's handler records each event it applies as a row of EFFECTS_DB (committed at once),
so the test sees what was applied, by whom and in which order, even after a SIGKILL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys

from factstream import RecordedEvent
from factstream.store.sqlite import SqliteEventStore
from factstream.streaming import (
    ConsumerGroup,
    GroupSettings,
    Relay,
    RelaySettings,
    RetryPolicy,
    open_streaming_state,
)
from factstream.streaming.brokers.nats import NatsBroker

PARTITIONS = 4
RELAY = RelaySettings(lease_ttl=1.5, ack_timeout=5.0, backoff_initial=0.05, backoff_max=0.5)
GROUP = GroupSettings(
    max_in_flight=32,
    fetch_timeout=0.2,
    lease_ttl=1.5,
    retry=RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05),
)


def open_effects(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS effects (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
        "stream_id TEXT NOT NULL, version INTEGER NOT NULL, member TEXT NOT NULL)"
    )
    return conn


async def main(role: str, db: str, url: str, prefix: str, owner: str, *rest: str) -> None:
    store = await SqliteEventStore.open(db)
    state = await open_streaming_state(f"sqlite:///{db}")
    broker = await NatsBroker.open(url, prefix=prefix, partitions=PARTITIONS)
    if role == "relay":
        await Relay(store, broker, state, RELAY, owner=owner).run()
        return
    effects = open_effects(rest[0])

    async def apply(event: RecordedEvent) -> None:
        effects.execute(
            "INSERT INTO effects (stream_id, version, member) VALUES (?, ?, ?)",
            (event.stream_id, event.version, owner),
        )

    await ConsumerGroup("killtest", broker, store, state, apply, GROUP, member=owner).run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
