"""Gap-free, commit-ordered positions on PostgreSQL, attacked from several processes.

Run as a script, this file is also the worker the multi-process test spawns:
``python test_postgres_ordering.py append URL SEED TASKS APPENDS`` or
``python test_postgres_ordering.py subscribe URL AFTER_HEAD``.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import random
import sys
import uuid
from typing import Any

import pytest

import factstream as fs

_STREAMS = 6
_END = "End"


# -- the worker processes -------------------------------------------------------------------


async def _append_worker(url: str, seed: int, tasks: int, appends: int) -> None:
    """Appends batches of 1..50 events to a few shared streams from many tasks, with stale,
    wrong and absent expected versions, idempotent retries and reused ids, and reports what
    the store said about each."""
    accepted: list[dict[str, Any]] = []
    counts = {"conflicts": 0, "retries": 0, "duplicates": 0}

    async def task(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        mine: list[tuple[str, list[fs.NewEvent], fs.AppendResult]] = []
        for n in range(appends):
            roll = rng.random()
            if mine and roll < 0.1:
                stream, batch, original = rng.choice(mine)
                choices: list[fs.ExpectedVersion] = [0, fs.ANY]
                again = rng.choice(choices)
                result = await store.append(stream, batch, expected_version=again)
                assert result == original, (result, original)
                counts["retries"] += 1
                continue
            stream = f"s-{rng.randrange(_STREAMS)}"
            size = rng.randint(1, 50)
            batch = [
                fs.NewEvent("Appended", {"seed": seed, "task": number, "n": n, "i": i})
                for i in range(size)
            ]
            if mine and roll < 0.15:
                # New events and one id already stored: refused, and rolls back its whole group.
                # (A batch made only of stored events would be an idempotent retry instead.)
                batch = [*batch[:49], rng.choice(mine)[1][0]]
                if len(batch) == 1:
                    batch.insert(0, fs.NewEvent("Appended", {"seed": seed, "task": number, "n": n}))
                with pytest.raises(fs.DuplicateEventId):
                    await store.append(stream, batch)
                counts["duplicates"] += 1
                continue
            expected: fs.ExpectedVersion
            if roll < 0.3:
                expected = fs.ANY
            elif roll < 0.4:
                expected = rng.randrange(5)
            else:
                expected = await store.stream_version(stream)
                await asyncio.sleep(0)  # let others move the stream on
            try:
                result = await store.append(stream, batch, expected_version=expected)
            except fs.WrongExpectedVersion:
                counts["conflicts"] += 1
                continue
            mine.append((stream, batch, result))
            accepted.append(
                {
                    "stream": stream,
                    "ids": [str(e.id) for e in batch],
                    "version": result.version,
                    "first": result.first_position,
                    "last": result.position,
                }
            )

    async with fs.connect(url) as store:
        await asyncio.gather(*(task(t) for t in range(tasks)))
    print(json.dumps({"accepted": accepted, **counts}), flush=True)


async def _subscribe_worker(url: str, after_head: int) -> None:
    """Subscribes from position 1 once the head has passed ``after_head``; prints each event."""
    async with fs.connect(url) as store:
        while await store.head_position() < after_head:  # noqa: ASYNC110 - another process moves it
            await asyncio.sleep(0.05)
        async with store.subscribe() as events:
            print("ready", flush=True)
            async for event in events:
                line = [event.position, event.stream_id, event.version, str(event.id)]
                print(json.dumps(line), flush=True)
                if event.type == _END:
                    break


# -- the tests ------------------------------------------------------------------------------


_ROOT = pathlib.Path(__file__).resolve().parents[2]


async def _spawn(
    spawned: list[asyncio.subprocess.Process], *args: str
) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT / "src"), str(_ROOT)])}
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args, stdout=asyncio.subprocess.PIPE, env=env
    )
    spawned.append(process)
    return process


async def _reap(spawned: list[asyncio.subprocess.Process]) -> None:
    """Stop workers a failed test left behind, so they do not outlive it."""
    for process in spawned:
        if process.returncode is None:
            process.kill()
        await process.communicate()


@pytest.mark.postgres
@pytest.mark.slow
async def test_subscribers_in_other_processes_hold_exactly_the_committed_log(pg: Any) -> None:
    store = await pg.open()  # creates the schema before the workers race to
    spawned: list[asyncio.subprocess.Process] = []
    try:
        async with asyncio.timeout(150):
            early = [await _spawn(spawned, "subscribe", pg.url, "0") for _ in range(2)]
            for process in early:
                assert process.stdout is not None
                assert (await process.stdout.readline()).strip() == b"ready"
            late = await _spawn(spawned, "subscribe", pg.url, "3000")
            writers = [
                await _spawn(spawned, "append", pg.url, str(seed), "10", "40") for seed in range(3)
            ]
            reports = []
            for writer in writers:
                out, _ = await writer.communicate()
                assert writer.returncode == 0
                reports.append(json.loads(out))
            await store.append("end", [fs.NewEvent(_END, {})])
            received = []
            for process in [*early, late]:
                out, _ = await process.communicate()
                assert process.returncode == 0
                lines = [line for line in out.splitlines() if line.strip() != b"ready"]
                received.append([json.loads(line) for line in lines])
        log = [[e.position, e.stream_id, e.version, str(e.id)] async for e in store.read_all()]
    finally:
        await _reap(spawned)
        await store.close()

    # The log itself: increasing positions, each id once, each stream's versions contiguous.
    positions = [row[0] for row in log]
    assert positions == sorted(set(positions))
    assert len({row[3] for row in log}) == len(log)
    for stream in {row[1] for row in log}:
        assert [row[2] for row in log if row[1] == stream] == list(
            range(1, sum(1 for row in log if row[1] == stream) + 1)
        )
    # It holds exactly the accepted appends, each whole, where their results said.
    by_id = {row[3]: row for row in log}
    accepted = [append for report in reports for append in report["accepted"]]
    assert sum(len(a["ids"]) for a in accepted) == len(log) - 1  # all but the end marker
    for append in accepted:
        rows = [by_id[event_id] for event_id in append["ids"]]
        assert [r[0] for r in rows] == list(range(append["first"], append["last"] + 1))
        assert [r[2] for r in rows] == list(
            range(append["version"] - len(rows) + 1, append["version"] + 1)
        )
        assert {r[1] for r in rows} == {append["stream"]}
    # The adversarial paths were really taken.
    assert sum(r["conflicts"] for r in reports) > 0
    assert sum(r["retries"] for r in reports) > 0
    assert sum(r["duplicates"] for r in reports) > 0
    # Every subscriber, early or late, got every committed event once, in order.
    for got in received:
        assert got == log


async def _writers_blocked(pg: Any, count: int) -> None:
    """Return once ``count`` writer sessions of the store wait for a lock (no sleeps to guess):
    a group's on the append lock, a lone append's on the row holding the position it takes."""
    import asyncpg

    conn = await asyncpg.connect(pg.base_url)
    try:
        while True:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'factstream-writer' AND wait_event_type = 'Lock' "
                "AND query LIKE $1",
                f"%{pg.schema}%",
            )
            if waiting >= count:
                return
            await asyncio.sleep(0.01)
    finally:
        await conn.close()


@pytest.mark.postgres
@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_no_reader_passes_an_append_that_has_not_committed(pg: Any, outcome: str) -> None:
    import asyncpg

    from factstream.store.postgres.connection import lock_key

    store = await pg.open()
    other = await pg.open()  # another writer connection, as another process would have
    slow = await asyncpg.connect(pg.base_url)
    try:
        await store.append("before", [fs.NewEvent("T", {"n": n}) for n in range(3)])
        received: list[fs.RecordedEvent] = []
        expected_count = 3 + 4 + (1 if outcome == "commit" else 0)

        async def follow() -> None:
            async with store.subscribe() as events:
                async for event in events:
                    received.append(event)
                    if len(received) == expected_count:
                        return

        follower = asyncio.create_task(follow())
        # A slow commit: positions taken, transaction open.
        transaction = slow.transaction()
        await transaction.start()
        slow_id = uuid.uuid4()
        [(before, first)] = await slow.fetch(
            f"SELECT * FROM \"{pg.schema}\".append_group($1, ARRAY['slow'], ARRAY[1], "
            "ARRAY[-1]::bigint[], ARRAY[1], ARRAY[1], ARRAY[0], ARRAY[$2::uuid], ARRAY['Slow'], "
            "ARRAY[1], ARRAY['{}'::bytea], ARRAY[NULL::bytea], ARRAY[NULL::text], "
            "ARRAY[NULL::text], NULL)",
            lock_key("append", pg.schema),
            slow_id,
        )
        assert (before, first) == (0, 4)
        later = [
            asyncio.create_task(writer.append(f"late-{n}", [fs.NewEvent("T", {"n": n})]))
            for n, writer in enumerate([store, other, store, other])
        ]
        await _writers_blocked(pg, 2)  # both writers are blocked behind it

        # Meanwhile nobody reads past position 3, and no later append has a position yet.
        assert [e.position async for e in store.read_all()] == [1, 2, 3]
        assert [e.position async for e in other.read_all(from_position=4)] == []
        assert await other.head_position() == 3
        assert not any(task.done() for task in later)
        assert [e.position for e in received] == [1, 2, 3]

        if outcome == "commit":
            await transaction.commit()
        else:
            await transaction.rollback()
        results = await asyncio.gather(*later)
        expected_first = 5 if outcome == "commit" else 4
        assert sorted(r.position for r in results) == list(
            range(expected_first, expected_first + 4)
        )
        log = [e async for e in store.read_all()]
        async with asyncio.timeout(30):
            await follower
        assert received == log
        assert [e.position for e in log] == list(range(1, len(log) + 1))
        assert (slow_id in {e.id for e in log}) == (outcome == "commit")
    finally:
        await slow.close()
        await other.close()
        await store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("clash", ["position", "version"])
@pytest.mark.parametrize("bounds", ["known", "read"])
async def test_a_lone_append_that_loses_a_race_is_decided_again(
    pg: Any, clash: str, bounds: str
) -> None:
    """A lone append runs without the append lock, at the position and version its store
    knows (``known``: it wrote them) or reads in its snapshot (``read``: a fresh store, which
    knows nothing). Another process's commit that lands meanwhile (here: held open, then
    committed) makes it collide on the position or the stream's version; it must then be
    decided again (reading, or under the lock), not fail."""
    import asyncpg

    first = await pg.open()
    racer = await asyncpg.connect(pg.base_url)
    await first.append("s", [fs.NewEvent("T", {"n": 1})])
    store = first if bounds == "known" else await pg.open()
    try:
        # The racer takes position 2 (or, for a version clash, version 2 of "s" far away).
        position = 2 if clash == "position" else 100
        stream, version = ("other", 1) if clash == "position" else ("s", 2)
        transaction = racer.transaction()
        await transaction.start()
        await racer.execute(
            f'INSERT INTO "{pg.schema}".events (position, id, stream_id, version, type, '
            "schema_version, data, recorded_at) VALUES ($1, $2, $3, $4, 'Racer', 1, "
            "'{}'::bytea, now())",
            position,
            uuid.uuid4(),
            stream,
            version,
        )
        append = asyncio.create_task(store.append("s", [fs.NewEvent("T", {"n": 2})]))
        await _writers_blocked(pg, 1)  # at head 1 and version 1, it waits on the row
        await transaction.commit()
        result = await append
        assert result.position == position + 1
        assert result.version == (2 if clash == "position" else 3)
        log = [(e.position, e.stream_id, e.version) async for e in store.read_all()]
        assert log == sorted(log)
        assert [e.data for e in await store.read("s")][-1] == {"n": 2}
        # And the next lone append (reading, or taking the lock, for a while) carries on.
        after = await store.append("s", [fs.NewEvent("T", {"n": 3})])
        assert (after.position, after.version) == (result.position + 1, result.version + 1)
    finally:
        await racer.close()
        if store is not first:
            await store.close()
        await first.close()


if __name__ == "__main__":
    command, url, *rest = sys.argv[1:]
    if command == "append":
        asyncio.run(_append_worker(url, int(rest[0]), int(rest[1]), int(rest[2])))
    elif command == "subscribe":
        asyncio.run(_subscribe_worker(url, int(rest[0])))
    else:
        raise SystemExit(f"unknown command {command!r}")
