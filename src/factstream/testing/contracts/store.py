"""The event store contract: what every backend guarantees (invariants 1-4 and 7)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ... import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    DuplicateEventId,
    InvalidEvent,
    NewEvent,
    RecordedEvent,
    StoreClosed,
    StoreLimits,
    StreamState,
    WrongExpectedVersion,
)
from ...store.base import StoreBase
from ...store.subscription import Subscription
from .harness import StoreHarness
from .lookups import LookupContract

__all__ = ["EventStoreContract"]


def events(count: int, type: str = "Happened", **data: Any) -> list[NewEvent]:
    return [NewEvent(type, {"n": n, **data}) for n in range(count)]


async def collect(
    subscription: Subscription, count: int, timeout: float = 30.0
) -> list[RecordedEvent]:
    received: list[RecordedEvent] = []
    async with asyncio.timeout(timeout):
        async for event in subscription:
            received.append(event)
            if len(received) == count:
                break
    return received


class EventStoreContract(LookupContract):
    """Subclass with a ``harness`` fixture yielding a :class:`StoreHarness`."""

    @pytest.fixture
    async def store(self, harness: StoreHarness) -> AsyncIterator[StoreBase]:
        store = await harness.open()
        try:
            yield store
        finally:
            await store.close()

    # -- append and read ------------------------------------------------------------------

    async def test_append_returns_version_and_position(self, store: StoreBase) -> None:
        first = await store.append("order-1", events(2), expected_version=NO_STREAM)
        second = await store.append("order-1", events(3), expected_version=2)
        assert (first.stream_id, first.version) == ("order-1", 2)
        assert first.position - first.first_position == 1
        assert second.version == 5
        assert second.first_position > first.position
        assert second.position - second.first_position == 2
        assert await store.head_position() == second.position

    async def test_read_returns_events_as_appended(self, store: StoreBase) -> None:
        sent = NewEvent(
            "OrderCreated",
            {"customer": "ada", "lines": [{"sku": "tea", "qty": 2}], "total": 9.5, "ok": True},
            metadata={"user": "u1", "ip": "127.0.0.1"},
            correlation_id="corr-1",
            causation_id=str(uuid.UUID(int=7)),
            schema_version=3,
        )
        before = dt.datetime.now(dt.UTC)
        result = await store.append("order-1", [sent])
        [got] = await store.read("order-1")
        assert got.id == sent.id
        assert got.type == "OrderCreated"
        assert got.data == sent.data
        assert got.metadata == {"user": "u1", "ip": "127.0.0.1"}
        assert got.correlation_id == "corr-1"
        assert got.causation_id == str(uuid.UUID(int=7))
        assert got.schema_version == 3
        assert (got.stream_id, got.version, got.position) == ("order-1", 1, result.position)
        assert got.timestamp.tzinfo is not None
        assert got.timestamp.utcoffset() == dt.timedelta(0)
        assert (
            before - dt.timedelta(seconds=5) <= got.timestamp <= before + dt.timedelta(seconds=60)
        )

    async def test_metadata_defaults_to_an_empty_object(self, store: StoreBase) -> None:
        await store.append("s", [NewEvent("T", {})])
        [got] = await store.read("s")
        assert got.metadata == {}
        assert got.correlation_id is None
        assert got.causation_id is None

    async def test_new_event_ids_are_time_ordered_uuid7(self) -> None:
        ids = [NewEvent("T", {}).id for _ in range(1000)]
        assert all(i.version == 7 for i in ids)
        assert ids == sorted(ids)
        assert len(set(ids)) == 1000

    async def test_read_missing_stream_is_empty(self, store: StoreBase) -> None:
        assert await store.read("nobody") == []
        assert await store.read("nobody", backwards=True) == []
        assert await store.stream_version("nobody") == 0

    async def test_read_forwards_from_version_with_limit(self, store: StoreBase) -> None:
        await store.append("s", events(10))
        got = await store.read("s", from_version=4, limit=3)
        assert [e.version for e in got] == [4, 5, 6]
        assert [e.data["n"] for e in got] == [3, 4, 5]
        assert [e.version for e in await store.read("s", from_version=9)] == [9, 10]
        assert await store.read("s", from_version=11) == []
        assert await store.read("s", limit=0) == []

    async def test_read_backwards(self, store: StoreBase) -> None:
        await store.append("s", events(10))
        assert [e.version for e in await store.read("s", backwards=True, limit=3)] == [10, 9, 8]
        assert [e.version for e in await store.read("s", from_version=4, backwards=True)] == [
            4,
            3,
            2,
            1,
        ]
        assert [
            e.version for e in await store.read("s", from_version=50, backwards=True, limit=2)
        ] == [
            10,
            9,
        ]

    async def test_streams_are_independent(self, store: StoreBase) -> None:
        await store.append("a", events(2))
        await store.append("b", events(3))
        await store.append("a", events(1), expected_version=2)
        assert [e.version for e in await store.read("a")] == [1, 2, 3]
        assert [e.version for e in await store.read("b")] == [1, 2, 3]
        assert await store.stream_version("a") == 3

    async def test_stored_events_cannot_be_changed_through_caller_dicts(
        self, store: StoreBase
    ) -> None:
        data = {"items": [1, 2]}
        await store.append("s", [NewEvent("T", data)])
        data["items"].append(3)
        [first] = await store.read("s")
        first.data["items"].append(4)
        [second] = await store.read("s")
        assert second.data == {"items": [1, 2]}

    async def test_recorded_events_are_immutable(self, store: StoreBase) -> None:
        await store.append("s", events(1))
        [event] = await store.read("s")
        with pytest.raises(AttributeError):
            event.version = 2  # type: ignore[misc]

    # -- expected versions ----------------------------------------------------------------

    async def test_no_stream_fails_when_stream_exists(self, store: StoreBase) -> None:
        await store.append("s", events(1), expected_version=NO_STREAM)
        with pytest.raises(WrongExpectedVersion) as caught:
            await store.append("s", events(1), expected_version=NO_STREAM)
        assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == ("s", 0, 1)
        assert "'s'" in str(caught.value)
        assert await store.stream_version("s") == 1

    async def test_append_fails_on_wrong_expected_version_and_stores_nothing(
        self, store: StoreBase
    ) -> None:
        await store.append("s", events(3))
        head = await store.head_position()
        for wrong in (1, 2, 4, 100):
            with pytest.raises(WrongExpectedVersion) as caught:
                await store.append("s", events(2), expected_version=wrong)
            assert caught.value.expected == wrong
            assert caught.value.actual == 3
        assert await store.stream_version("s") == 3
        assert await store.head_position() == head

    async def test_stream_exists_requires_events(self, store: StoreBase) -> None:
        with pytest.raises(WrongExpectedVersion) as caught:
            await store.append("s", events(1), expected_version=STREAM_EXISTS)
        assert caught.value.expected is STREAM_EXISTS
        assert caught.value.actual == 0
        await store.append("s", events(1))
        result = await store.append("s", events(1), expected_version=STREAM_EXISTS)
        assert result.version == 2

    async def test_any_appends_whatever_the_version(self, store: StoreBase) -> None:
        assert (await store.append("s", events(1), expected_version=ANY)).version == 1
        assert (await store.append("s", events(1), expected_version=ANY)).version == 2

    async def test_expected_version_must_be_valid(self, store: StoreBase) -> None:
        for bad in (-1, "1", None, True, 1.0):
            with pytest.raises(InvalidEvent, match="expected_version"):
                await store.append("s", events(1), expected_version=bad)  # type: ignore[arg-type]
        assert await store.head_position() == 0

    # -- idempotency ----------------------------------------------------------------------

    async def test_reappending_the_same_batch_returns_the_original_result(
        self, store: StoreBase
    ) -> None:
        batch = events(3)
        original = await store.append("s", batch, expected_version=NO_STREAM)
        await store.append("other", events(2))
        again = await store.append("s", batch, expected_version=NO_STREAM)
        assert again == original
        assert await store.stream_version("s") == 3
        also = await store.append("s", batch, expected_version=ANY)
        assert also == original
        assert len([e async for e in store.read_all()]) == 5

    async def test_reappending_a_batch_after_later_appends_is_still_idempotent(
        self, store: StoreBase
    ) -> None:
        batch = events(2)
        original = await store.append("s", batch)
        await store.append("s", events(2), expected_version=2)
        assert await store.append("s", batch, expected_version=0) == original
        assert await store.stream_version("s") == 4

    @pytest.mark.parametrize("expected", [ANY, NO_STREAM])
    async def test_concurrent_retries_of_one_batch_store_it_once(
        self, store: StoreBase, expected: int | StreamState
    ) -> None:
        batch = events(3)
        results = await asyncio.gather(
            *(store.append("s", batch, expected_version=expected) for _ in range(20)),
            store.append("other", events(1)),
        )
        assert all(result == results[0] for result in results[:20])
        assert results[0].version == 3
        assert [e.id for e in await store.read("s")] == [e.id for e in batch]
        assert await store.head_position() == 4

    async def test_event_id_stored_in_another_stream_is_refused(self, store: StoreBase) -> None:
        [event] = events(1)
        await store.append("a", [event])
        with pytest.raises(DuplicateEventId) as caught:
            await store.append("b", [event])
        assert caught.value.event_id == event.id
        assert "'a'" in str(caught.value)
        assert await store.read("b") == []

    async def test_event_id_stored_with_other_content_is_refused(self, store: StoreBase) -> None:
        event = NewEvent("T", {"x": 1})
        await store.append("s", [event])
        changed = NewEvent("T", {"x": 2}, id=event.id)
        with pytest.raises(DuplicateEventId, match="different content"):
            await store.append("s", [changed])
        assert await store.stream_version("s") == 1

    async def test_partly_stored_batch_is_refused_whole(self, store: StoreBase) -> None:
        stored = events(2)
        await store.append("s", stored)
        mixed = [stored[1], *events(2)]
        with pytest.raises(DuplicateEventId):
            await store.append("s", mixed)
        assert await store.stream_version("s") == 2
        assert await store.head_position() == 2

    # -- bad input ------------------------------------------------------------------------

    async def test_bad_stream_ids_are_refused(self, store: StoreBase) -> None:
        for bad, message in (("", "empty"), ("x" * 256, "over the limit"), (42, "string")):
            with pytest.raises(InvalidEvent, match=message):
                await store.append(bad, events(1))  # type: ignore[arg-type]
        assert await store.head_position() == 0

    async def test_bad_events_are_refused_and_store_nothing(self, store: StoreBase) -> None:
        with pytest.raises(InvalidEvent, match="type"):
            NewEvent("", {})
        with pytest.raises(InvalidEvent, match="JSON object"):
            NewEvent("T", [1, 2])  # type: ignore[arg-type]
        with pytest.raises(InvalidEvent, match="metadata"):
            NewEvent("T", {}, metadata="x")  # type: ignore[arg-type]
        with pytest.raises(InvalidEvent, match="schema_version"):
            NewEvent("T", {}, schema_version=0)
        await store.append("s", events(1))
        with pytest.raises(InvalidEvent, match=r"event #1 \('T'\): data is not JSON-serialisable"):
            await store.append("s", [NewEvent("T", {}), NewEvent("T", {"when": object()})])
        with pytest.raises(InvalidEvent, match="keys must be strings"):
            await store.append("s", [NewEvent("T", {1: "x"})])  # type: ignore[dict-item]
        with pytest.raises(InvalidEvent, match="empty batch"):
            await store.append("s", [])
        with pytest.raises(InvalidEvent, match="must be a NewEvent"):
            await store.append("s", [{"type": "T"}])  # type: ignore[list-item]
        with pytest.raises(InvalidEvent, match="list of NewEvent"):
            await store.append("s", NewEvent("T", {}))  # type: ignore[arg-type]
        dup = NewEvent("T", {})
        with pytest.raises(InvalidEvent, match="appears twice"):
            await store.append("s", [dup, dup])
        assert [e.version for e in await store.read("s")] == [1]
        assert await store.head_position() == 1

    async def test_events_over_the_size_limit_are_refused(self, harness: StoreHarness) -> None:
        store = await harness.open(limits=StoreLimits(max_event_size=1000))
        try:
            await store.append("s", [NewEvent("T", {"blob": "x" * 900})])
            with pytest.raises(InvalidEvent, match="over the limit of 1000"):
                await store.append("s", [NewEvent("T", {"blob": "x" * 1000})])
            assert await store.stream_version("s") == 1
        finally:
            await store.close()

    async def test_default_size_limit_is_one_mebibyte(self, store: StoreBase) -> None:
        await store.append("s", [NewEvent("T", {"blob": "x" * 1_000_000})])
        with pytest.raises(InvalidEvent, match="over the limit of 1048576"):
            await store.append("s", [NewEvent("T", {"blob": "x" * (1024 * 1024)})])
        [stored] = await store.read("s")
        assert len(stored.data["blob"]) == 1_000_000

    async def test_bad_read_arguments_are_refused(self, store: StoreBase) -> None:
        with pytest.raises(InvalidEvent, match="from_version"):
            await store.read("s", from_version=0)
        with pytest.raises(InvalidEvent, match="limit"):
            await store.read("s", limit=-1)
        with pytest.raises(InvalidEvent, match="from_position"):
            store.read_all(from_position=0)
        with pytest.raises(InvalidEvent, match="from_position"):
            store.subscribe(from_position=-3)

    async def test_closed_store_refuses_work(self, harness: StoreHarness) -> None:
        store = await harness.open()
        await store.close()
        await store.close()  # closing twice is harmless
        with pytest.raises(StoreClosed):
            await store.append("s", events(1))
        with pytest.raises(StoreClosed):
            await store.read("s")

    # -- concurrency ----------------------------------------------------------------------

    async def test_racing_appends_with_one_expected_version_let_exactly_one_win(
        self, store: StoreBase
    ) -> None:
        async def contender(n: int) -> int:
            conflicts = 0
            while True:
                version = await store.stream_version("hot")
                await asyncio.sleep(0)  # let the others read the same version
                try:
                    await store.append(
                        "hot", [NewEvent("Won", {"task": n})], expected_version=version
                    )
                    return conflicts
                except WrongExpectedVersion:
                    conflicts += 1

        conflicts = await asyncio.gather(*(contender(n) for n in range(100)))
        stored = await store.read("hot")
        assert [e.version for e in stored] == list(range(1, 101))
        assert sorted(e.data["task"] for e in stored) == list(range(100))
        assert sum(conflicts) > 0  # they did race

    async def test_one_round_of_racing_appends_has_exactly_one_winner(
        self, store: StoreBase
    ) -> None:
        await store.append("hot", events(1))
        outcomes = await asyncio.gather(
            *(store.append("hot", events(2), expected_version=1) for _ in range(100)),
            return_exceptions=True,
        )
        winners = [o for o in outcomes if not isinstance(o, BaseException)]
        losers = [o for o in outcomes if isinstance(o, WrongExpectedVersion)]
        assert len(winners) == 1
        assert len(losers) == 99
        assert all(loser.actual == 3 for loser in losers)
        assert [e.version for e in await store.read("hot")] == [1, 2, 3]

    async def test_hundreds_of_concurrent_appends_to_distinct_streams(
        self, store: StoreBase
    ) -> None:
        results = await asyncio.gather(
            *(
                store.append(f"s-{n}", events(1 + n % 3), expected_version=NO_STREAM)
                for n in range(300)
            )
        )
        assert all(r.version == 1 + n % 3 for n, r in enumerate(results))
        positions = [p for r in results for p in range(r.first_position, r.position + 1)]
        assert len(set(positions)) == len(positions) == sum(1 + n % 3 for n in range(300))
        log = [e async for e in store.read_all()]
        assert [e.position for e in log] == sorted(positions)

    # -- the global log -------------------------------------------------------------------

    async def test_read_all_is_ordered_and_keeps_stream_order(self, store: StoreBase) -> None:
        await asyncio.gather(*(store.append(f"s-{n % 7}", events(3)) for n in range(70)))
        log = [e async for e in store.read_all()]
        assert len(log) == 210
        positions = [e.position for e in log]
        assert positions == sorted(positions)
        assert len(set(positions)) == 210
        for stream in {e.stream_id for e in log}:
            assert [e.version for e in log if e.stream_id == stream] == list(range(1, 31))

    async def test_read_all_from_position_with_limit(self, store: StoreBase) -> None:
        await store.append("a", events(5))
        await store.append("b", events(5))
        everything = [e async for e in store.read_all()]
        middle = [e async for e in store.read_all(from_position=everything[3].position, limit=4)]
        assert middle == everything[3:7]
        assert [e async for e in store.read_all(limit=0)] == []
        assert [e async for e in store.read_all(from_position=everything[-1].position + 1)] == []

    async def test_read_all_pages_through_a_long_log(self, store: StoreBase) -> None:
        for _ in range(5):
            await store.append("s", events(700))
        positions = [e.position async for e in store.read_all()]
        assert len(positions) == 3500
        assert positions == sorted(set(positions))
        assert len([e async for e in store.read_all(limit=2500)]) == 2500

    # -- subscriptions --------------------------------------------------------------------

    async def test_subscription_catches_up_then_goes_live(self, store: StoreBase) -> None:
        await store.append("a", events(5))
        async with store.subscribe() as subscription:
            first = await collect(subscription, 5)
            await store.append("b", events(3))
            second = await collect(subscription, 3)
        assert [e.version for e in first] == [1, 2, 3, 4, 5]
        assert [(e.stream_id, e.version) for e in second] == [("b", 1), ("b", 2), ("b", 3)]
        assert subscription.position == second[-1].position

    async def test_subscription_from_the_middle(self, store: StoreBase) -> None:
        await store.append("a", events(10))
        log = [e async for e in store.read_all()]
        async with store.subscribe(from_position=log[6].position) as subscription:
            got = await collect(subscription, 4)
        assert got == log[6:]

    async def test_live_subscribers_get_every_event_once_in_order_while_20_tasks_append(
        self, store: StoreBase
    ) -> None:
        await store.append("before", events(10))
        total = 10 + 20 * 25

        async def writer(n: int) -> None:
            for i in range(25):
                await store.append(f"w-{n}", [NewEvent("W", {"i": i})], expected_version=i)
                if i % 5 == 0:
                    await asyncio.sleep(0)

        async with store.subscribe() as from_start, store.subscribe(from_position=5) as from_middle:
            late: asyncio.Task[list[RecordedEvent]] | None = None
            writers = [asyncio.create_task(writer(n)) for n in range(20)]
            results = asyncio.gather(collect(from_start, total), collect(from_middle, total - 4))
            await asyncio.sleep(0.01)

            async def join_late() -> list[RecordedEvent]:
                async with store.subscribe() as subscription:
                    return await collect(subscription, total)

            late = asyncio.create_task(join_late())
            await asyncio.gather(*writers)
            start_events, middle_events = await results
            late_events = await late
        log = [e async for e in store.read_all()]
        assert len(log) == total
        assert start_events == log
        assert late_events == log
        assert middle_events == log[4:]

    async def test_subscription_to_one_stream(self, store: StoreBase) -> None:
        await store.append("a", events(3))
        await store.append("b", events(2))
        async with store.subscribe(stream_id="a") as subscription:
            caught_up = await collect(subscription, 3)
            await store.append("b", events(2))
            await store.append("a", events(2))
            live = await collect(subscription, 2)
        assert [(e.stream_id, e.version) for e in caught_up + live] == [
            ("a", v) for v in range(1, 6)
        ]

    async def test_stream_subscription_from_a_position_skips_earlier_events(
        self, store: StoreBase
    ) -> None:
        await store.append("a", events(3))
        middle = await store.append("b", events(1))
        await store.append("a", events(2))
        async with store.subscribe(from_position=middle.position, stream_id="a") as subscription:
            got = await collect(subscription, 2)
        assert [e.version for e in got] == [4, 5]

    async def test_slow_subscriber_holds_at_most_one_page(self, store: StoreBase) -> None:
        for _ in range(6):
            await store.append("s", events(500))
        async with store.subscribe() as subscription:
            held = []
            count = 0
            async for _event in subscription:
                count += 1
                held.append(len(subscription._buffer))
                if count == 3000:
                    break
        assert max(held) < Subscription.page_size

    async def test_subscription_ends_when_the_store_closes(self, harness: StoreHarness) -> None:
        store = await harness.open()
        await store.append("s", events(1))

        async def consume() -> int:
            seen = 0
            async with store.subscribe() as subscription:
                async for _ in subscription:
                    seen += 1
            return seen

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        await store.close()
        async with asyncio.timeout(10):
            assert await task == 1

    # -- durability -----------------------------------------------------------------------

    async def test_reopened_store_has_everything_and_continues(self, harness: StoreHarness) -> None:
        if not harness.persistent:
            pytest.skip(f"{harness.name} keeps nothing after close, by design")
        first = await harness.open()
        try:
            await first.append("s", events(3))
            head = await first.head_position()
        finally:
            await first.close()
        second = await harness.open()
        try:
            assert [e.version for e in await second.read("s")] == [1, 2, 3]
            result = await second.append("s", events(1), expected_version=3)
            assert result.position > head
        finally:
            await second.close()
