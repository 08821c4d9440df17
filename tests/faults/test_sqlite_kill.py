"""SIGKILL of a process in the middle of a stream of appends leaves every batch whole or absent."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import sqlite3
import sys
from collections import Counter

import factstream as fs

WRITER = pathlib.Path(__file__).with_name("sqlite_writer.py")


async def _kill_after(path: pathlib.Path, acknowledged: int, tasks: int, first: int) -> set[int]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WRITER),
        f"sqlite:///{path}",
        str(tasks),
        str(first),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    committed: set[int] = set()
    async with asyncio.timeout(60):
        while len(committed) < acknowledged:
            line = await process.stdout.readline()
            assert line, "the writer exited early"
            committed.add(int(line))
    process.send_signal(signal.SIGKILL)
    await process.wait()
    return committed


async def test_sigkill_mid_appends_leaves_whole_batches_and_a_sound_file(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "killed.db"
    acknowledged: set[int] = set()
    for round_ in range(3):  # kill, reopen, kill again: recovery must not disturb what was there
        acknowledged |= await _kill_after(
            path, 40 * (round_ + 1), tasks=8, first=round_ * 1_000_000
        )

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()

    async with fs.connect(f"sqlite:///{path}") as store:
        log = [event async for event in store.read_all()]
        sizes = Counter(event.data["batch"] for event in log)
        for batch, count in sizes.items():
            assert count == 1 + batch % 50, f"batch {batch} is torn: {count} of {1 + batch % 50}"
        # Everything a caller was told is committed is there (durability, synchronous=FULL).
        assert acknowledged <= set(sizes)
        positions = [event.position for event in log]
        assert positions == list(range(1, len(log) + 1))
        for lane in {event.stream_id for event in log}:
            versions = [event.version for event in log if event.stream_id == lane]
            assert versions == list(range(1, len(versions) + 1))
        # The store still takes appends after the crashes.
        result = await store.append("after", [fs.NewEvent("Recovered", {})])
        assert result.position == len(log) + 1
