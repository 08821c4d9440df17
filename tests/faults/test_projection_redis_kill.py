"""SIGKILL of a Redis-backed projection runner, in the middle of a batch or at an arbitrary
moment, applies nothing twice and loses nothing: each batch is one script, applied only from
the checkpoint it expects."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import sys
import uuid
from collections.abc import AsyncIterator

import pytest

import factstream as fs
from factstream.projections import RedisTarget
from tests.services import require

from .projection_redis_worker import RedisLedger

WORKER = pathlib.Path(__file__).with_name("projection_redis_worker.py")
REDIS_URL = "redis://127.0.0.1:6379/0"
STREAMS = 40
EVENTS = 4000


@pytest.fixture
async def target() -> AsyncIterator[RedisTarget]:
    require("Redis", "127.0.0.1", 6379)
    target = RedisTarget(REDIS_URL, f"fskill:{uuid.uuid4().hex[:12]}:")
    yield target
    await target.reset("ledger")


async def _fill(url: str) -> None:
    async with fs.connect(url) as store:
        for start in range(0, EVENTS, 100):
            await store.append(
                f"account-{start // 100 % STREAMS}",
                [fs.NewEvent("Deposited", {"amount": n}) for n in range(start, start + 100)],
            )


async def _run_until(
    url: str, target: RedisTarget, mode: str, batch_size: int, lines_wanted: int
) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        url,
        target.url,
        target.prefix,
        mode,
        str(batch_size),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while len(lines) < lines_wanted:
                line = (await process.stdout.readline()).decode().strip()
                assert line, "the worker exited early"
                lines.append(line)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    return lines


async def test_sigkill_of_a_redis_runner_applies_nothing_twice_and_loses_nothing(
    tmp_path: pathlib.Path, target: RedisTarget
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    await _fill(url)

    lines = await _run_until(url, target, "block-at:1750", 500, 4)
    assert lines == ["500", "1000", "1500", "MID 1750"]
    await _run_until(url, target, "run", 37, 20)
    await _run_until(url, target, "run", 11, 30)

    async with fs.connect(url) as store:
        runner = fs.ProjectionRunner(store, RedisLedger(), target, batch_size=333)
        assert await runner.catch_up() == EVENTS

    client = await target.connect()
    try:
        applied = await client.lrange(target.key("ledger", "applied"), 0, -1)
        assert [int(p) for p in applied] == list(range(1, EVENTS + 1))
        events = await client.hgetall(target.key("ledger", "events"))
        amount = await client.hgetall(target.key("ledger", "amount"))
    finally:
        await client.aclose()
    expected: dict[str, tuple[int, int]] = {}
    for start in range(0, EVENTS, 100):
        stream = f"account-{start // 100 % STREAMS}"
        count, total = expected.get(stream, (0, 0))
        expected[stream] = (count + 100, total + sum(range(start, start + 100)))
    assert {s: (int(events[s]), int(amount[s])) for s in events} == expected
