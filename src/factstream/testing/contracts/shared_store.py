"""The contract of stores that several processes share (SQLite files, PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

from ... import NewEvent
from ...store.base import StoreBase
from .harness import StoreHarness

__all__ = ["SharedStoreContract"]

_WORKERS = "factstream.testing.contracts.workers"


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", _WORKERS, *args, stdout=asyncio.subprocess.PIPE
    )


class SharedStoreContract:
    """Subclass with a ``harness`` fixture whose ``url`` other processes can open."""

    async def test_three_processes_append_while_a_fourth_subscribes(
        self, harness: StoreHarness
    ) -> None:
        assert harness.url is not None
        batches = 60
        sizes = {
            name: sum(1 + (n * 7 + len(name)) % 5 for n in range(batches))
            for name in ("w1", "w22", "w333")
        }
        total = sum(sizes.values())
        subscriber = await _spawn("subscribe", harness.url, str(total))
        assert subscriber.stdout is not None
        async with asyncio.timeout(120):
            assert (await subscriber.stdout.readline()).strip() == b"ready"
            writers = [await _spawn("append", harness.url, name, str(batches)) for name in sizes]
            reports = []
            for writer in writers:
                out, _ = await writer.communicate()
                assert writer.returncode == 0
                reports.append(json.loads(out))
            received_raw, _ = await subscriber.communicate()
        assert subscriber.returncode == 0
        assert sum(r["stored"] for r in reports) == total
        received = [json.loads(line) for line in received_raw.splitlines()]

        store: StoreBase = await harness.open()
        try:
            log = [[e.position, e.stream_id, e.version, str(e.id)] async for e in store.read_all()]
            batches_seen = Counter(
                [(e.data["worker"], e.data["batch"]) async for e in store.read_all()]
            )
        finally:
            await store.close()
        assert received == log  # every committed event, once, in position order
        assert len(log) == total
        for stream in {row[1] for row in log}:
            versions = [row[2] for row in log if row[1] == stream]
            assert versions == list(range(1, len(versions) + 1))
        # Every batch is whole: as many events as its size says.
        for (worker, batch), count in batches_seen.items():
            assert count == 1 + (batch * 7 + len(worker)) % 5

    async def test_a_second_process_sees_appends_live(self, harness: StoreHarness) -> None:
        assert harness.url is not None
        store = await harness.open()
        try:
            await store.append("early", [NewEvent("T", {"n": 0})])
            subscriber = await _spawn("subscribe", harness.url, "3")
            assert subscriber.stdout is not None
            async with asyncio.timeout(60):
                assert (await subscriber.stdout.readline()).strip() == b"ready"
                await store.append("late", [NewEvent("T", {"n": 1}), NewEvent("T", {"n": 2})])
                out, _ = await subscriber.communicate()
            rows = [json.loads(line) for line in out.splitlines()]
            assert [(r[1], r[2]) for r in rows] == [("early", 1), ("late", 1), ("late", 2)]
        finally:
            await store.close()
