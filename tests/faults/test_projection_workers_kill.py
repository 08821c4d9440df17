"""Three partitioned worker processes share a projection; one is SIGKILLed while events keep
coming; its partitions move to the others within the lease timeout, and in the end every
event is applied exactly once, in per-stream order."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import signal
import sys
from collections.abc import Callable

import factstream as fs
from tests.unit.projections.helpers import query

from .projection_worker import parse_target

WORKER = "tests.faults.projection_partition_worker"
PARTITIONS = 6
STREAMS = 48


class Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.held: frozenset[int] | None = None
        self.changed = asyncio.Event()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := (await self.process.stdout.readline()).decode().strip():
            if line.startswith("HOLD"):
                parts = line[4:].strip()
                self.held = frozenset(int(p) for p in parts.split(",") if p)
                self.changed.set()

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


async def _spawn(url: str, target: str) -> Worker:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        WORKER,
        url,
        target,
        str(PARTITIONS),
        "2.0",
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    return Worker(process)


async def _until(condition: Callable[[], bool], workers: list[Worker]) -> None:
    while not condition():
        for worker in workers:
            worker.changed.clear()
        await asyncio.wait(
            [asyncio.ensure_future(w.changed.wait()) for w in workers],
            timeout=0.2,
            return_when=asyncio.FIRST_COMPLETED,
        )


def _partitioned(workers: list[Worker]) -> bool:
    held = [w.held for w in workers]
    if any(h is None or not h for h in held):
        return False
    union: set[int] = set()
    for h in held:
        assert h is not None
        if union & h:
            return False
        union |= h
    return union == set(range(PARTITIONS))


async def _append(store: fs.EventStore, count: int, offset: int) -> int:
    position = 0
    for start in range(offset, offset + count, 10):
        stream = f"account-{start // 10 % STREAMS}"
        events = [fs.NewEvent("Deposited", {"amount": n}) for n in range(start, start + 10)]
        position = (await store.append(stream, events)).position
    return position


async def test_three_workers_one_killed_nothing_lost_nothing_twice_in_stream_order(
    tmp_path: pathlib.Path, target_spec: str
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    target = parse_target(target_spec)
    workers: list[Worker] = []
    async with fs.connect(url) as store:
        head = await _append(store, 1500, 0)
        try:
            async with asyncio.timeout(90):
                for _ in range(3):
                    workers.append(await _spawn(url, target_spec))
                await _until(lambda: _partitioned(workers), workers)
                head = await _append(store, 800, 1500)
                victim, survivors = workers[0], workers[1:]
                lost = victim.held
                await victim.kill()
                head = await _append(store, 800, 2300)
                await _until(lambda: _partitioned(survivors), survivors)
                assert lost is not None
                assert lost <= (survivors[0].held or set()) | (survivors[1].held or set())
                while True:
                    rows = await query(target, "SELECT min(position) FROM factstream_checkpoints")
                    if rows and rows[0][0] is not None and int(rows[0][0]) >= head:
                        break
                    await asyncio.sleep(0.1)
        finally:
            for worker in workers:
                await worker.kill()

    applied = await query(target, "SELECT position FROM applied ORDER BY position")
    assert [int(row[0]) for row in applied] == list(range(1, head + 1))
    streams = await query(target, "SELECT stream_id, last_version, disorder FROM streams")
    assert len(streams) == STREAMS
    assert {int(d) for _, _, d in streams} == {0}
    assert sum(int(v) for _, v, _ in streams) == head
