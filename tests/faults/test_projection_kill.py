"""SIGKILL of a projection runner, in the middle of a batch, applies nothing twice and loses
nothing: the read model and its checkpoint commit together."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import sys

import factstream as fs
from tests.unit.projections.helpers import query

from .projection_worker import Ledger, parse_target

WORKER = pathlib.Path(__file__).with_name("projection_worker.py")
STREAMS = 40
EVENTS = 4000


async def _fill(url: str) -> None:
    async with fs.connect(url) as store:
        for start in range(0, EVENTS, 100):
            await store.append(
                f"account-{start // 100 % STREAMS}",
                [fs.NewEvent("Deposited", {"amount": n}) for n in range(start, start + 100)],
            )


async def _worker(url: str, target: str, mode: str, batch_size: int) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        url,
        target,
        mode,
        str(batch_size),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    return process


async def _read_until(process: asyncio.subprocess.Process, done: object) -> list[str]:
    assert process.stdout is not None
    lines = []
    async with asyncio.timeout(60):
        while True:
            line = (await process.stdout.readline()).decode().strip()
            assert line, "the worker exited early"
            lines.append(line)
            if callable(done) and done(lines):
                return lines


async def _kill(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGKILL)
    await process.wait()


async def test_sigkill_mid_batch_applies_nothing_twice_and_loses_nothing(
    tmp_path: pathlib.Path, target_spec: str
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    await _fill(url)

    # 1. Killed with half a batch written into its open transaction.
    process = await _worker(url, target_spec, "block-at:1750", 500)
    lines = await _read_until(process, lambda seen: seen[-1].startswith("MID"))
    await _kill(process)
    assert lines[-1] == "MID 1750"
    assert lines[:-1] == ["500", "1000", "1500"]

    # 2. Killed at an arbitrary moment while catching up in small batches.
    process = await _worker(url, target_spec, "run", 37)
    await _read_until(process, lambda seen: len(seen) >= 20)
    await _kill(process)

    # 3. A last run to the end.
    async with fs.connect(url) as store:
        runner = fs.ProjectionRunner(store, Ledger(), parse_target(target_spec), batch_size=333)
        assert await runner.catch_up() == EVENTS

    target = parse_target(target_spec)
    applied = await query(target, "SELECT position FROM applied ORDER BY position")
    assert [row[0] for row in applied] == list(range(1, EVENTS + 1))
    totals = await query(target, "SELECT stream_id, events, amount FROM totals")
    expected: dict[str, tuple[int, int]] = {}
    for start in range(0, EVENTS, 100):
        stream = f"account-{start // 100 % STREAMS}"
        events, amount = expected.get(stream, (0, 0))
        expected[stream] = (events + 100, amount + sum(range(start, start + 100)))
    assert {s: (int(e), int(a)) for s, e, a in totals} == expected
