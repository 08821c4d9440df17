"""Property tests: random interleavings of appends, conflicts and reads keep the invariants."""

from __future__ import annotations

import asyncio
import pathlib
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import factstream as fs
from factstream.store.base import StoreBase

from .harnesses import HARNESSES

EXPECTATIONS = ("exact", "stale", "ahead", "any", "no_stream", "exists")


@dataclass(frozen=True)
class Op:
    stream: int
    size: int
    expectation: str
    then_read: bool


ops_strategy = st.lists(
    st.builds(
        Op,
        stream=st.integers(0, 3),
        size=st.integers(1, 4),
        expectation=st.sampled_from(EXPECTATIONS),
        then_read=st.booleans(),
    ),
    min_size=1,
    max_size=30,
)


async def _with_store(
    backend: str, folder: str, scenario: Callable[[StoreBase], Awaitable[None]]
) -> None:
    harness = HARNESSES[backend](pathlib.Path(folder))
    store = await harness.open()
    try:
        await scenario(store)
    finally:
        await store.close()
        await harness.cleanup()


def _expected_for(op: Op, version: int) -> fs.ExpectedVersion:
    choices: dict[str, fs.ExpectedVersion] = {
        "exact": version,
        "stale": max(version - 1, 0) if version else 1,
        "ahead": version + 1,
        "any": fs.ANY,
        "no_stream": fs.NO_STREAM,
        "exists": fs.STREAM_EXISTS,
    }
    return choices[op.expectation]


def _model_accepts(expectation: str, expected: fs.ExpectedVersion, version: int) -> bool:
    if expected is fs.ANY:
        return True
    if expected is fs.STREAM_EXISTS:
        return version > 0
    return expected == version


async def _run_sequential(store: StoreBase, ops: list[Op]) -> None:
    model: dict[str, int] = {}
    log: list[tuple[str, int]] = []
    for op in ops:
        stream = f"s{op.stream}"
        version = model.get(stream, 0)
        expected = _expected_for(op, version)
        batch = [fs.NewEvent("E", {"i": i}) for i in range(op.size)]
        if _model_accepts(op.expectation, expected, version):
            result = await store.append(stream, batch, expected_version=expected)
            assert result.version == version + op.size
            model[stream] = result.version
            log.extend((stream, v) for v in range(version + 1, result.version + 1))
            assert result.position == len(log)
            # A retry of the same batch is recognised whatever it expects.
            assert await store.append(stream, batch, expected_version=fs.NO_STREAM) == result
        else:
            with pytest.raises(fs.WrongExpectedVersion) as caught:
                await store.append(stream, batch, expected_version=expected)
            assert caught.value.actual == version
        if op.then_read:
            assert [e.version for e in await store.read(stream)] == list(
                range(1, model.get(stream, 0) + 1)
            )
    assert [(e.stream_id, e.version) async for e in store.read_all()] == log


async def _run_concurrent(store: StoreBase, ops: list[Op]) -> None:
    async def attempt(op: Op) -> tuple[list[fs.NewEvent], fs.AppendResult | None]:
        stream = f"s{op.stream}"
        version = await store.stream_version(stream)
        await asyncio.sleep(0)
        batch = [fs.NewEvent("E", {"i": i}) for i in range(op.size)]
        try:
            return batch, await store.append(
                stream, batch, expected_version=_expected_for(op, version)
            )
        except fs.WrongExpectedVersion:
            return batch, None

    outcomes = await asyncio.gather(*(attempt(op) for op in ops))
    log = [e async for e in store.read_all()]
    by_id = {e.id: e for e in log}
    positions = [e.position for e in log]
    assert positions == sorted(set(positions))
    for stream in {e.stream_id for e in log}:
        versions = [e.version for e in log if e.stream_id == stream]
        assert versions == list(range(1, len(versions) + 1))
    stored = 0
    for batch, result in outcomes:
        if result is None:  # refused: none of it is stored
            assert not any(event.id in by_id for event in batch)
            continue
        stored += len(batch)
        got = [by_id[event.id] for event in batch]
        assert [e.version for e in got] == list(
            range(result.version - len(batch) + 1, result.version + 1)
        )
        assert got[-1].position == result.position
        assert got[0].position == result.first_position
    assert stored == len(log)


@pytest.mark.parametrize("backend", list(HARNESSES))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=ops_strategy)
def test_sequential_appends_match_a_model(backend: str, ops: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_with_store(backend, folder, lambda store: _run_sequential(store, ops)))


@pytest.mark.parametrize("backend", list(HARNESSES))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=ops_strategy)
def test_concurrent_appends_keep_the_invariants(backend: str, ops: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_with_store(backend, folder, lambda store: _run_concurrent(store, ops)))


_ID_CHARS = st.sampled_from("ab-_%\u00e9\u00ff\U0001f600\U0010ffff")


async def _list_like_a_model(
    store: StoreBase, ids: list[str], prefix: str, after: str | None, limit: int
) -> None:
    await asyncio.gather(*(store.append(i, [fs.NewEvent("T", {})]) for i in ids))
    model = [i for i in sorted(ids) if i.startswith(prefix) and (after is None or i > after)]
    first = await store.list_streams(prefix or None, after, limit)
    assert [info.stream_id for info in first] == model[:limit]
    paged: list[str] = []
    cursor = after
    while True:  # pages of `limit` until a short one: the whole model, in order
        page = await store.list_streams(prefix or None, cursor, limit)
        paged += [info.stream_id for info in page]
        if len(page) < limit:
            break
        cursor = page[-1].stream_id
    assert paged == model


@pytest.mark.parametrize("backend", list(HARNESSES))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ids=st.lists(st.text(_ID_CHARS, min_size=1, max_size=4), min_size=1, max_size=12, unique=True),
    prefix=st.text(_ID_CHARS, max_size=2),
    after=st.none() | st.text(_ID_CHARS, max_size=3),
    limit=st.integers(1, 5),
)
def test_stream_listings_match_a_sorted_model(
    backend: str, ids: list[str], prefix: str, after: str | None, limit: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(
            _with_store(
                backend, folder, lambda store: _list_like_a_model(store, ids, prefix, after, limit)
            )
        )
