"""The SQLite stream catalog: keyset pages, prefixes, ids with odd characters, lookups."""

from __future__ import annotations

import pathlib

import factstream as fs
from factstream.http import SqliteStreamCatalog
from factstream.observability import InstrumentedEventStore, Metrics


async def test_pages_cover_every_stream_once_in_order(tmp_path: pathlib.Path) -> None:
    async with fs.connect(f"sqlite:///{tmp_path}/c.db") as store:
        ids = [f"s-{n:03}" for n in range(57)] + ["ä-1", "z/slash", "a'quote", "%"]
        for n, stream in enumerate(ids):
            await store.append(
                stream,
                [fs.NewEvent("T", {})] * 1
                if n % 2
                else [fs.NewEvent("T", {}), fs.NewEvent("T", {})],
            )
        catalog = SqliteStreamCatalog.for_store(InstrumentedEventStore(store, Metrics()))
        assert catalog is not None
        seen: list[str] = []
        after = None
        while True:
            page = await catalog.list_streams(after, 10)
            seen += [info.stream_id for info in page]
            if len(page) < 10:
                break
            after = page[-1].stream_id
        assert seen == sorted(ids)
        versions = {info.stream_id: info.version for info in await catalog.list_streams(None, 100)}
        assert versions["s-000"] == 2
        assert versions["s-001"] == 1
        prefixed = await catalog.list_streams(None, 100, prefix="s-05")
        assert [info.stream_id for info in prefixed] == [f"s-05{n}" for n in range(7)]
        assert await catalog.list_streams(None, 10, prefix="%") != []
        assert [i.stream_id for i in await catalog.list_streams(None, 10, prefix="%")] == ["%"]
        event = (await store.read("ä-1"))[0]
        assert await catalog.position_of(event.id) == event.position
        assert await catalog.position_of(fs.uuid7()) is None
        await catalog.close()


async def test_memory_stores_have_no_catalog() -> None:
    async with fs.connect("memory://") as store:
        assert SqliteStreamCatalog.for_store(store) is None
