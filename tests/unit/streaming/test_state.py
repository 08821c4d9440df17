"""The streaming state ports on memory, SQLite (beside a store) and PostgreSQL."""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from collections.abc import AsyncIterator

import pytest

from factstream.store.sqlite import SqliteEventStore
from factstream.streaming import StreamingState, StreamMark, open_streaming_state
from tests.services import POSTGRES_URL, require


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def state(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[StreamingState]:
    if request.param == "postgres":
        require("PostgreSQL", "127.0.0.1", 5432)
        schema = f"fs_stream_{uuid.uuid4().hex[:10]}"
        opened = await open_streaming_state(f"{POSTGRES_URL}?streaming_schema={schema}")
        yield opened
        await opened.drop()  # type: ignore[attr-defined]
        await opened.close()
        return
    if request.param == "sqlite":
        # Beside a live store on the same file: the store's schema check must not mind.
        path = tmp_path / "events.db"
        store = await SqliteEventStore.open(path)
        opened = await open_streaming_state(f"sqlite:///{path}")
        yield opened
        await opened.close()
        await store.close()
        reopened = await SqliteEventStore.open(path)
        await reopened.close()
        return
    opened = await open_streaming_state("memory://")
    yield opened
    await opened.close()


async def test_checkpoints_start_at_zero_and_keep_what_was_saved(state: StreamingState) -> None:
    assert await state.load_checkpoint("relay:a") == 0
    await state.save_checkpoint("relay:a", 42)
    await state.save_checkpoint("relay:a", 7)  # a rewind is allowed
    assert await state.load_checkpoint("relay:a") == 7
    assert await state.load_checkpoint("relay:b") == 0


async def test_a_lease_has_one_owner_until_released_or_expired(state: StreamingState) -> None:
    assert await state.acquire_lease("l", "a", 30)
    assert await state.acquire_lease("l", "a", 30)  # renewal
    assert not await state.acquire_lease("l", "b", 30)
    assert await state.lease_holders("l") == {"l": "a"}
    await state.release_lease("l", "b")  # not b's to release
    assert not await state.acquire_lease("l", "b", 30)
    await state.release_lease("l", "a")
    assert await state.acquire_lease("l", "b", 0.2)
    await asyncio.sleep(0.4)
    assert await state.lease_holders("l") == {}
    assert await state.acquire_lease("l", "a", 30)  # b's lease expired


async def test_lease_holders_are_found_by_prefix(state: StreamingState) -> None:
    await state.acquire_lease("group:g:member:1", "1", 30)
    await state.acquire_lease("group:g:member:2", "2", 30)
    await state.acquire_lease("group:h:member:3", "3", 30)
    assert await state.lease_holders("group:g:member:") == {
        "group:g:member:1": "1",
        "group:g:member:2": "2",
    }


async def test_marks_keep_the_highest_version_and_the_parked_flag(state: StreamingState) -> None:
    assert await state.load_marks("g", ["s1"]) == {}
    await state.save_marks("g", {"s1": StreamMark(3), "s2": StreamMark(1, 2)})
    await state.save_marks("g", {"s1": StreamMark(2)})  # never goes back
    assert await state.load_marks("g", ["s1", "s2", "s3"]) == {
        "s1": StreamMark(3),
        "s2": StreamMark(1, 2),
    }
    assert await state.parked_streams("g") == {"s2": StreamMark(1, 2)}
    assert await state.load_marks("other", ["s1"]) == {}
    many = {f"s-{n}": StreamMark(n) for n in range(1200)}
    await state.save_marks("g", many)
    assert len(await state.load_marks("g", list(many))) == 1200
