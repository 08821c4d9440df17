"""A consumer-group member that beats, in its own process, for the SIGSTOP health test.

python tests/integration/heartbeat_member.py DB NATS_URL PREFIX MEMBER
"""

from __future__ import annotations

import asyncio
import sys

from factstream import RecordedEvent
from factstream.store.sqlite import SqliteEventStore
from factstream.streaming import ConsumerGroup, GroupSettings, open_streaming_state
from factstream.streaming.brokers.nats import NatsBroker
from factstream.streaming.heartbeats import member_heartbeat


async def main(db: str, url: str, prefix: str, member: str) -> None:
    store = await SqliteEventStore.open(db)
    state = await open_streaming_state(f"sqlite:///{db}")
    broker = await NatsBroker.open(url, prefix=prefix, partitions=2)

    async def handle(event: RecordedEvent) -> None:
        return None

    settings = GroupSettings(fetch_timeout=0.2, lease_ttl=1.5)
    group = ConsumerGroup("billing", broker, store, state, handle, settings, member=member)
    async with member_heartbeat(group, interval=0.1):
        await group.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
