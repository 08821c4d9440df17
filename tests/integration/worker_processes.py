"""Starting ``factstream`` worker commands as processes, and finding their metrics port."""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
import sys

CLI = "from factstream.cli import main; main()"
_PORT = re.compile(r"metrics at http://127\.0\.0\.1:(\d+)/metrics")


async def start_cli(log: pathlib.Path, *args: str) -> asyncio.subprocess.Process:
    """Run ``factstream ARGS`` with stderr to ``log`` (a file never fills up like a pipe)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with log.open("wb") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLI, *args, stdout=asyncio.subprocess.DEVNULL, stderr=err, env=env
        )


async def metrics_port(process: asyncio.subprocess.Process, log: pathlib.Path) -> int:
    """The port the worker printed at start (bounded wait)."""
    async with asyncio.timeout(30):
        while True:
            text = await asyncio.to_thread(log.read_text)
            found = _PORT.search(text)
            if found:
                return int(found.group(1))
            if process.returncode is not None:
                raise AssertionError(f"the worker exited: {text}")
            await asyncio.sleep(0.05)


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
    await process.wait()
