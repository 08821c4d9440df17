"""A lone append inserts at the position and version its store knows (``lone.py``): what it
knows are lower bounds, and stale ones are found out, never used to leave a gap."""

from __future__ import annotations

import pytest

import factstream as fs
from factstream.store.base import StoreBase
from tests.contract.harnesses import PostgresHarness

pytestmark = pytest.mark.postgres


async def _log(store: StoreBase) -> list[tuple[int, str, int]]:
    return [(e.position, e.stream_id, e.version) async for e in store.read_all()]


def _event(n: int) -> list[fs.NewEvent]:
    return [fs.NewEvent("T", {"n": n})]


async def test_positions_and_versions_another_store_took_are_found_out(
    pg: PostgresHarness,
) -> None:
    a = await pg.open()
    b = await pg.open()  # as another process would: a knows nothing of its commits
    try:
        await a.append("s", _event(1))  # a knows head 1, s at 1
        await b.append("s", _event(2), expected_version=1)
        await b.append("t", _event(3))
        # a's head and version of s are stale: its guess collides, it reads and goes on.
        result = await a.append("s", _event(4))
        assert (result.position, result.version) == (4, 3)
        with pytest.raises(fs.WrongExpectedVersion):
            await b.append("s", _event(5), expected_version=2)
        # a knows s at 3 now; b's append moves it on, a's stale guess must not succeed.
        await b.append("s", _event(6), expected_version=3)
        with pytest.raises(fs.WrongExpectedVersion) as raised:
            await a.append("s", _event(7), expected_version=3)
        assert raised.value.actual == 4
        # A new stream (NO_STREAM, version 0 is always a lower bound), and one that exists.
        assert (await a.append("u", _event(8), expected_version=fs.NO_STREAM)).version == 1
        with pytest.raises(fs.WrongExpectedVersion):
            await a.append("t", _event(9), expected_version=fs.NO_STREAM)
        assert (await a.append("t", _event(10), expected_version=fs.STREAM_EXISTS)).version == 2
        log = await _log(a)
        assert [position for position, _, _ in log] == list(range(1, len(log) + 1))
        assert [(stream, version) for _, stream, version in log] == [
            ("s", 1),
            ("s", 2),
            ("t", 1),
            ("s", 3),
            ("s", 4),
            ("u", 1),
            ("t", 2),
        ]
    finally:
        await b.close()
        await a.close()


async def test_a_retry_or_a_conflict_at_known_positions_gets_its_usual_answer(
    pg: PostgresHarness,
) -> None:
    store = await pg.open()
    try:
        event = fs.NewEvent("T", {"n": 1})
        first = await store.append("s", [event])
        await store.append("s", _event(2))
        again = await store.append("s", [event])  # the same id: an idempotent retry
        assert again == first
        with pytest.raises(fs.DuplicateEventId):
            await store.append("other", [event])
        with pytest.raises(fs.WrongExpectedVersion):  # inserting version 1 of s collides
            await store.append("s", _event(3), expected_version=fs.NO_STREAM)
        assert (await store.append("s", _event(4), expected_version=2)).position == 3
        assert await _log(store) == [(1, "s", 1), (2, "s", 2), (3, "s", 3)]
    finally:
        await store.close()


def test_the_known_versions_stay_bounded() -> None:
    from factstream.store.postgres.lone import _KNOWN_STREAMS, LoneAppender
    from factstream.store.postgres.statements import Statements

    lone = LoneAppender(Statements.for_schema("bounded"))
    for n in range(_KNOWN_STREAMS * 3):
        lone._learn(f"s-{n}", 1)
        assert len(lone._versions) <= _KNOWN_STREAMS
    lone._learn("s-0", 5)
    lone._learn("s-0", 3)  # a lower bound learned later never lowers a higher one
    assert lone._versions["s-0"] == 5
