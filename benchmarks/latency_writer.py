"""Child process of the cross-process latency variant: ``URL RATE COUNT``; prints the rate."""

from __future__ import annotations

import asyncio
import sys

import factstream as fs

from .latency import paced_appends


async def _main(url: str, rate: int, count: int) -> None:
    async with fs.connect(url) as store:
        achieved = await paced_appends(store, "ticker-remote", rate, count)
    print(achieved)


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
