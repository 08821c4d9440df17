"""What is particular to the SQLite backend (the contract covers the rest)."""

from __future__ import annotations

import asyncio
import pathlib
import sqlite3
import sys

import pytest

import factstream as fs
from factstream.store.sqlite.schema import SCHEMA_VERSION


def _synchronous_pragma(store: fs.SqliteEventStore) -> int:
    conn = store._reader()
    return int(conn.execute("PRAGMA synchronous").fetchall()[0][0])


async def test_url_forms_open_relative_and_absolute_files(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with fs.connect("sqlite:///relative.db") as store:
        await store.append("s", [fs.NewEvent("T", {})])
    assert (tmp_path / "relative.db").exists()
    async with fs.connect(f"sqlite:///{tmp_path}/absolute.db") as store:
        assert await store.head_position() == 0
    assert (tmp_path / "absolute.db").exists()


async def test_bad_urls_say_what_is_wrong(tmp_path: pathlib.Path) -> None:
    with pytest.raises(fs.UnsupportedUrl, match="unknown store URL scheme 'mysql'"):
        await fs.connect("mysql://x")
    with pytest.raises(fs.UnsupportedUrl, match="no host"):
        await fs.connect("sqlite://host/x.db")
    with pytest.raises(fs.UnsupportedUrl, match="no file path"):
        await fs.connect("sqlite:///")
    with pytest.raises(fs.StoreUnavailable, match="does not exist"):
        await fs.connect(f"sqlite:///{tmp_path}/missing/folder/x.db")


async def test_file_is_in_wal_mode_with_full_sync_by_default(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "e.db"
    async with fs.connect(f"sqlite:///{path}") as store:
        assert isinstance(store, fs.SqliteEventStore)
        assert store.settings.synchronous == "FULL"
        assert await store._in_reader(_synchronous_pragma, store) == 2  # FULL
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT max(version) FROM factstream_migrations").fetchone() == (
            SCHEMA_VERSION,
        )
    finally:
        conn.close()


async def test_synchronous_normal_is_an_option(tmp_path: pathlib.Path) -> None:
    async with fs.connect(f"sqlite:///{tmp_path}/n.db?synchronous=normal") as store:
        assert isinstance(store, fs.SqliteEventStore)
        assert store.settings.synchronous == "NORMAL"
        assert await store._in_reader(_synchronous_pragma, store) == 1  # NORMAL
        await store.append("s", [fs.NewEvent("T", {})])
        assert [e.version for e in await store.read("s")] == [1]


async def test_a_file_from_a_newer_factstream_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "future.db"
    async with fs.connect(f"sqlite:///{path}"):
        pass
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO factstream_migrations VALUES (999, '999_future.sql', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this factstream"):
        await fs.connect(f"sqlite:///{path}")


async def test_processes_opening_a_new_file_at_once_migrate_it_once(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "race.db"
    script = (
        "import asyncio, sys, factstream as fs\n"
        "async def main():\n"
        "    async with fs.connect(sys.argv[1]) as s:\n"
        "        await s.append('p', [fs.NewEvent('Opened', {})])\n"
        "asyncio.run(main())\n"
    )
    processes = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", script, f"sqlite:///{path}")
        for _ in range(4)
    ]
    codes = [await p.wait() for p in processes]
    assert codes == [0, 0, 0, 0]
    async with fs.connect(f"sqlite:///{path}") as store:
        assert [e.version for e in await store.read("p")] == [1, 2, 3, 4]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM factstream_migrations").fetchone() == (
        SCHEMA_VERSION,
    )
    conn.close()


async def test_concurrent_appends_share_transactions(tmp_path: pathlib.Path) -> None:
    async with fs.connect(f"sqlite:///{tmp_path}/g.db") as store:
        await asyncio.gather(*(store.append(f"s{n}", [fs.NewEvent("T", {})]) for n in range(200)))
        log = [e async for e in store.read_all()]
    # One commit timestamp per transaction: fewer distinct stamps than appends means grouping.
    assert len(log) == 200
    assert len({e.timestamp for e in log}) < 200


async def test_a_group_mixing_events_with_and_without_ids_stores_each_as_given(
    tmp_path: pathlib.Path,
) -> None:
    # Rows without correlation and causation ids are inserted by a narrower statement: a group
    # holding both kinds (and a batch mixing them) must store every column as given.
    async with fs.connect(f"sqlite:///{tmp_path}/m.db") as store:
        plain = [fs.NewEvent("T", {"n": n}) for n in range(70)]
        linked = [
            fs.NewEvent("T", {"n": n}, correlation_id=f"c{n % 3}", causation_id=f"k{n}")
            for n in range(70)
        ]
        mixed = [fs.NewEvent("T", {}), fs.NewEvent("T", {}, correlation_id="c0")]
        big = [fs.NewEvent("T", {"n": n}, causation_id="b" if n % 2 else None) for n in range(66)]
        await asyncio.gather(
            *(store.append(f"p{n}", [event]) for n, event in enumerate(plain)),
            *(store.append(f"l{n}", [event]) for n, event in enumerate(linked)),
            store.append("x", mixed),
            store.append("big", big),
        )
        log = {e.id: e for e in [e async for e in store.read_all()]}
        assert len(log) == 70 + 70 + 2 + 66
        for event in [*plain, *linked, *mixed, *big]:
            stored = log[event.id]
            assert (stored.correlation_id, stored.causation_id) == (
                event.correlation_id,
                event.causation_id,
            )
        by_c0 = await store.events_by_correlation("c0", limit=1000)
        expected = {e.id for e in linked if e.correlation_id == "c0"} | {mixed[1].id}
        assert {e.id for e in by_c0} == expected
        assert [e.id for e in await store.events_by_causation("k5")] == [linked[5].id]
    conn = sqlite3.connect(tmp_path / "m.db")
    kinds = conn.execute("SELECT DISTINCT typeof(id), typeof(body) FROM events").fetchall()
    conn.close()
    assert kinds == [("blob", "blob")]


async def test_a_lone_append_commits_on_the_loop_and_a_group_in_the_writer(
    tmp_path: pathlib.Path,
) -> None:
    async with fs.connect(f"sqlite:///{tmp_path}/d.db") as store:
        assert isinstance(store, fs.SqliteEventStore)
        for n in range(5):
            await store.append("s", [fs.NewEvent("T", {"n": n})])
        assert store.commit_counts() == (5, 5)
        # Several tasks in one turn of the loop: one group, whichever path it takes.
        await asyncio.gather(*(store.append(f"g{n}", [fs.NewEvent("T", {})]) for n in range(50)))
        transactions, appends = store.commit_counts()
        assert appends == 55
        assert transactions < 55
    async with fs.connect(f"sqlite:///{tmp_path}/d.db?direct_commits=false") as store:
        assert isinstance(store, fs.SqliteEventStore)
        assert store.settings.direct_commits is False
        for n in range(3):
            await store.append("s", [fs.NewEvent("T", {"n": n})], expected_version=5 + n)
        assert [e.version for e in await store.read("s")] == list(range(1, 9))
    with pytest.raises(fs.UnsupportedUrl, match="direct_commits must be true or false"):
        await fs.connect(f"sqlite:///{tmp_path}/d.db?direct_commits=maybe")


async def test_a_sequential_appender_skips_idle_turns_but_lets_other_tasks_run(
    tmp_path: pathlib.Path,
) -> None:
    loop = asyncio.get_running_loop()
    iterations = 0
    real_run_once = loop._run_once  # type: ignore[attr-defined]

    def counting_run_once() -> None:
        nonlocal iterations
        iterations += 1
        real_run_once()

    async with fs.connect(f"sqlite:///{tmp_path}/t.db?synchronous=normal") as store:
        await store.append("s", [fs.NewEvent("T", {})])
        loop._run_once = counting_run_once  # type: ignore[attr-defined]
        try:
            for n in range(300):
                await store.append("s", [fs.NewEvent("T", {"n": n})], expected_version=n + 1)
        finally:
            del loop._run_once  # type: ignore[attr-defined]
        # Nothing else was ready: most appends were handed over without a turn of the loop.
        assert iterations < 300
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)  # the ticker is now always ready: every append takes its turn
        before = ticks
        for n in range(50):
            await store.append("s", [fs.NewEvent("T", {"n": n})], expected_version=301 + n)
        assert ticks - before >= 50
        task.cancel()
        # A tight loop of appends with nothing else ready still gives timers their turn.
        fired = asyncio.Event()
        loop.call_later(0.001, fired.set)
        n = 351
        while not fired.is_set():
            await store.append("s", [fs.NewEvent("T", {"n": n})], expected_version=n)
            n += 1
        assert await store.stream_version("s") == n


async def test_a_lone_append_never_holds_the_loop_while_another_process_writes(
    tmp_path: pathlib.Path,
) -> None:
    async with fs.connect(f"sqlite:///{tmp_path}/l.db") as store:
        await store.append("s", [fs.NewEvent("T", {})])
        other = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            append = asyncio.create_task(store.append("s", [fs.NewEvent("T", {})]))
            ticks = 0
            while ticks < 20:  # the loop keeps running other tasks meanwhile
                await asyncio.sleep(0.005)
                ticks += 1
            assert not append.done()
        finally:
            other.execute("ROLLBACK")
            other.close()
        result = await append
        assert (result.version, result.position) == (2, 2)


async def test_a_cancelled_append_does_not_strand_the_others_of_its_turn(
    tmp_path: pathlib.Path,
) -> None:
    async with fs.connect(f"sqlite:///{tmp_path}/x.db") as store:
        tasks = [
            asyncio.create_task(store.append(f"s{n}", [fs.NewEvent("T", {})])) for n in range(5)
        ]
        await asyncio.sleep(0)  # every task made its append; the first waits to hand them over
        tasks[0].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError)
        assert all(isinstance(r, fs.AppendResult) for r in results[1:])
        # The cancelled caller's append was already made: it stands, like any cancelled one.
        assert await store.head_position() == 5


async def test_the_wal_is_checkpointed_when_appends_commit_on_the_loop(
    tmp_path: pathlib.Path,
) -> None:
    async with fs.connect(f"sqlite:///{tmp_path}/w.db?synchronous=normal") as store:
        assert isinstance(store, fs.SqliteEventStore)
        for n in range(2_000):
            await store.append("s", [fs.NewEvent("T", {"n": n})])
        assert store.commit_counts() == (2_000, 2_000)
        # ~3 pages per commit: without checkpoints the WAL would hold ~6,000 frames (24 MiB).
        frames = (tmp_path / "w.db-wal").stat().st_size // 4_120
        assert frames < 3_000, frames
    async with fs.connect(f"sqlite:///{tmp_path}/b.db?synchronous=normal") as store:
        assert isinstance(store, fs.SqliteEventStore)
        text = "x" * 2_000
        for n in range(60):  # fewer commits than the count that triggers, 12 MiB of events
            batch = [fs.NewEvent("T", {"n": n, "i": i, "text": text}) for i in range(100)]
            await store.append("s", batch)
        assert store.commit_counts() == (60, 60)
        # Checkpointed by size: the WAL never grew to the whole 12 MiB (~3,000 frames).
        frames = (tmp_path / "b.db-wal").stat().st_size // 4_120
        assert frames < 2_000, frames


async def test_appends_after_close_are_refused_and_pending_ones_finish(
    tmp_path: pathlib.Path,
) -> None:
    store = await fs.connect(f"sqlite:///{tmp_path}/c.db")
    pending = [
        asyncio.ensure_future(store.append(f"s{n}", [fs.NewEvent("T", {})])) for n in range(50)
    ]
    await asyncio.sleep(0)
    await store.close()
    results = await asyncio.gather(*pending, return_exceptions=True)
    finished = [r for r in results if isinstance(r, fs.AppendResult)]
    refused = [r for r in results if isinstance(r, fs.StoreClosed)]
    assert len(finished) + len(refused) == 50
    async with fs.connect(f"sqlite:///{tmp_path}/c.db") as again:
        assert await again.head_position() == len(finished)


async def test_unknown_or_bad_options_are_refused_clearly(tmp_path: pathlib.Path) -> None:
    with pytest.raises(fs.UnsupportedUrl, match="unknown SQLite option"):
        await fs.connect(f"sqlite:///{tmp_path}/o.db?colour=blue")
    with pytest.raises(fs.UnsupportedUrl, match="readers must be an integer"):
        await fs.connect(f"sqlite:///{tmp_path}/o.db?readers=many")
    with pytest.raises(fs.UnsupportedUrl, match="synchronous must be 'full' or 'normal'"):
        await fs.connect(f"sqlite:///{tmp_path}/o.db?synchronous=off")


async def test_a_full_disk_fails_appends_whole_and_keeps_what_was_stored(
    tmp_path: pathlib.Path,
) -> None:
    def tiny_database(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA max_page_count=64")  # about 256 KiB: a disk that fills up

    path = tmp_path / "full.db"
    stored = 0
    async with fs.connect(f"sqlite:///{path}", on_connect=tiny_database) as store:
        failure: fs.StoreUnavailable | None = None
        for n in range(10_000):
            batch = [fs.NewEvent("Filler", {"n": n, "i": i, "pad": "x" * 300}) for i in range(10)]
            try:
                await store.append(f"s{n % 3}", batch)
            except fs.StoreUnavailable as exc:
                failure = exc
                break
            stored += 10
        assert failure is not None
        assert "full" in str(failure)
        # The store goes on serving reads, and what was acknowledged is all there.
        assert len([e async for e in store.read_all()]) == stored
    async with fs.connect(f"sqlite:///{path}") as store:
        log = [e async for e in store.read_all()]
        assert len(log) == stored
        assert all(e.data["i"] == n % 10 for n, e in enumerate(log))  # whole batches only
        await store.append("after", [fs.NewEvent("Room", {})])  # no limit any more


def test_connections_racing_to_put_a_new_file_in_wal_mode_all_succeed(
    tmp_path: pathlib.Path,
) -> None:
    import threading

    from factstream.store.sqlite.connection import enable_wal

    for attempt in range(5):
        path = tmp_path / f"race-{attempt}.db"
        start = threading.Barrier(8)
        errors: list[BaseException] = []

        def opener(
            path: pathlib.Path, start: threading.Barrier, errors: list[BaseException]
        ) -> None:
            conn = sqlite3.connect(path, timeout=10, isolation_level=None)
            try:
                start.wait()
                enable_wal(conn, 10)
                conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
            except BaseException as exc:
                errors.append(exc)
            finally:
                conn.close()

        threads = [threading.Thread(target=opener, args=(path, start, errors)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        check = sqlite3.connect(path)
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        check.close()


async def test_a_version_1_file_gets_the_lookup_columns_and_indexes_when_opened(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "v1.db"
    async with fs.connect(f"sqlite:///{path}") as store:
        await store.append("s", [fs.NewEvent("T", {}, correlation_id="c", causation_id="k")])
    conn = sqlite3.connect(path)  # back to schema version 1, as an older factstream left it
    conn.execute("DROP INDEX events_correlation")
    conn.execute("DROP INDEX events_causation")
    conn.execute("ALTER TABLE events DROP COLUMN correlation_id")
    conn.execute("ALTER TABLE events DROP COLUMN causation_id")
    conn.execute("DELETE FROM factstream_migrations WHERE version > 1")
    conn.commit()
    conn.close()
    async with fs.connect(f"sqlite:///{path}") as store:
        assert [e.type for e in await store.events_by_correlation("c")] == ["T"]
        assert [e.type for e in await store.events_by_causation("k")] == ["T"]
    conn = sqlite3.connect(path)
    try:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT body FROM events "
            "WHERE correlation_id = 'c' AND position >= 1 "
            "ORDER BY position LIMIT 10"
        ).fetchall()
        assert "events_correlation" in str(plan)
        assert conn.execute("SELECT max(version) FROM factstream_migrations").fetchone() == (
            SCHEMA_VERSION,
        )
    finally:
        conn.close()
