"""A process that appends batches to a SQLite store until it is killed.

Batch k (counting from FIRST) has ``1 + k % 50`` events, each carrying
``{"batch": k, "of": size}``, so a reader can tell a whole batch from a torn one.
Prints the number of each batch once it is committed.
"""

from __future__ import annotations

import asyncio
import sys

from factstream import NewEvent, connect


async def main(url: str, tasks: int, first: int) -> None:
    async with connect(url) as store:

        async def appender(lane: int) -> None:
            k = first + lane
            while True:
                size = 1 + k % 50
                batch = [NewEvent("Torn?", {"batch": k, "i": i, "of": size}) for i in range(size)]
                await store.append(f"lane-{lane}", batch)
                print(k, flush=True)
                k += tasks

        await asyncio.gather(*(appender(lane) for lane in range(tasks)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
