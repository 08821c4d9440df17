"""Worker processes for the multi-process contract tests.

Run as ``python -m factstream.testing.contracts.workers COMMAND ...``.

``append URL NAME BATCHES``: appends BATCHES batches of 1..5 events to five streams shared with the
other workers, reading the version first and retrying on conflicts, so conflicting transactions
really happen. Prints the number of events it stored.

``subscribe URL COUNT``: subscribes from position 1 and prints one JSON line per event received
(position, stream id, version, event id) until COUNT events arrived.
"""

from __future__ import annotations

import asyncio
import json
import sys

from ... import NewEvent, WrongExpectedVersion, connect


async def append(url: str, name: str, batches: int) -> None:
    stored = 0
    conflicts = 0
    async with connect(url) as store:
        for n in range(batches):
            stream = f"shared-{n % 5}"
            size = 1 + (n * 7 + len(name)) % 5
            batch = [
                NewEvent("Appended", {"worker": name, "batch": n, "i": i, "of": size})
                for i in range(size)
            ]
            while True:
                version = await store.stream_version(stream)
                try:
                    await store.append(stream, batch, expected_version=version)
                    stored += size
                    break
                except WrongExpectedVersion:
                    conflicts += 1
    print(json.dumps({"stored": stored, "conflicts": conflicts}), flush=True)


async def subscribe(url: str, count: int) -> None:
    async with connect(url) as store, store.subscribe() as events:
        print("ready", flush=True)
        received = 0
        async for event in events:
            line = [event.position, event.stream_id, event.version, str(event.id)]
            print(json.dumps(line), flush=True)
            received += 1
            if received == count:
                break


def main(argv: list[str]) -> None:
    command, url, *rest = argv
    if command == "append":
        asyncio.run(append(url, rest[0], int(rest[1])))
    elif command == "subscribe":
        asyncio.run(subscribe(url, int(rest[0])))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
