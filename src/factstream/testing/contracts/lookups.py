"""The store contract's lookups: listing streams, events by position and id, correlation and
causation. Mixed into :class:`~factstream.testing.contracts.EventStoreContract`."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from ... import InvalidEvent, NewEvent, StoreClosed
from ...store.base import StoreBase
from ...store.catalog import MAX_LOOKUP_LIMIT
from .harness import StoreHarness

__all__ = ["LookupContract"]


def _event(n: int = 0, correlation: str | None = None, cause: str | None = None) -> NewEvent:
    return NewEvent("Happened", {"n": n}, correlation_id=correlation, causation_id=cause)


class LookupContract:
    """Needs the ``store`` and ``harness`` fixtures of the store contract."""

    async def test_list_streams_pages_in_id_order(self, store: StoreBase) -> None:
        ids = [f"s-{n:03}" for n in range(25)]
        for n, stream_id in enumerate(reversed(ids)):
            await store.append(stream_id, [_event(i) for i in range(n % 3 + 1)])
        seen: list[str] = []
        after = None
        while True:
            page = await store.list_streams(after=after, limit=10)
            seen += [info.stream_id for info in page]
            if len(page) < 10:
                break
            after = page[-1].stream_id
        assert seen == ids
        assert await store.list_streams(after=ids[-1]) == []

    async def test_list_streams_reports_version_last_position_and_time(
        self, store: StoreBase
    ) -> None:
        before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        await store.append("a", [_event(1), _event(2)])
        await store.append("b", [_event(3)])
        last = await store.append("a", [_event(4)])
        [a, b] = await store.list_streams()
        assert (a.stream_id, a.version, a.last_position) == ("a", 3, last.position)
        assert (b.stream_id, b.version) == ("b", 1)
        [newest] = await store.read("a", backwards=True, limit=1)
        assert a.last_recorded_at == newest.timestamp
        assert a.last_recorded_at.tzinfo is not None
        assert a.last_recorded_at > before

    async def test_list_streams_by_prefix(self, store: StoreBase) -> None:
        names = ["order-1", "order-2", "order_3", "order-10", "orders", "stock-1", "%", "_x"]
        names += ["ordé-1", "ordé-2", "z\U0010ffff\U0010ffff", "z\U0010ffff"]
        for name in names:
            await store.append(name, [_event()])

        async def listed(prefix: str, after: str | None = None, limit: int = 100) -> list[str]:
            return [i.stream_id for i in await store.list_streams(prefix, after, limit)]

        assert await listed("order-") == ["order-1", "order-10", "order-2"]
        assert await listed("order-", after="order-1") == ["order-10", "order-2"]
        assert await listed("order-", after="a") == ["order-1", "order-10", "order-2"]
        assert await listed("order-", after="zzz") == []
        assert await listed("order-", limit=1) == ["order-1"]
        assert await listed("order") == ["order-1", "order-10", "order-2", "order_3", "orders"]
        assert await listed("%") == ["%"]  # no LIKE wildcards
        assert await listed("_") == ["_x"]
        assert await listed("ordé") == ["ordé-1", "ordé-2"]
        assert await listed("z\U0010ffff") == ["z\U0010ffff", "z\U0010ffff\U0010ffff"]
        assert await listed("nothing") == []
        assert await listed("", limit=2) == ["%", "_x"]

    async def test_list_streams_refuses_bad_arguments(self, store: StoreBase) -> None:
        for bad in (0, -1, MAX_LOOKUP_LIMIT + 1, 1.5, True, "10"):
            with pytest.raises(InvalidEvent, match="limit"):
                await store.list_streams(limit=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidEvent, match="prefix"):
            await store.list_streams(prefix=7)  # type: ignore[arg-type]
        with pytest.raises(InvalidEvent, match="after"):
            await store.list_streams(after="a\x00")
        with pytest.raises(InvalidEvent, match="prefix"):
            await store.list_streams(prefix="x" * (store.limits.max_stream_id_length + 1))

    async def test_event_at_and_by_id(self, store: StoreBase) -> None:
        await store.append("a", [_event(1)])
        result = await store.append("b", [_event(2), _event(3)])
        [first, second] = await store.read("b")
        assert await store.event_at(result.position) == second
        assert await store.event_at(result.first_position) == first
        assert await store.event_at(result.position + 1) is None
        assert await store.event_at(2**63) is None
        assert await store.event_by_id(second.id) == second
        assert await store.event_by_id(uuid.uuid4()) is None
        with pytest.raises(InvalidEvent, match="position"):
            await store.event_at(0)
        with pytest.raises(InvalidEvent, match="event_id"):
            await store.event_by_id(str(second.id))  # type: ignore[arg-type]

    async def test_events_by_correlation_and_causation(self, store: StoreBase) -> None:
        await store.append("order-1", [_event(0, correlation="c-1")])
        [root] = await store.read("order-1")
        cause = str(root.id)
        await asyncio.gather(
            store.append("stock-1", [_event(1, "c-1", cause), _event(2, "c-1", cause)]),
            store.append("other", [_event(3, "c-2", cause), _event(4)]),
        )
        await store.append("order-1", [_event(5, "c-1")])
        correlated = await store.events_by_correlation("c-1")
        assert [e.data["n"] for e in correlated] == [0, 1, 2, 5]
        assert [e.position for e in correlated] == sorted(e.position for e in correlated)
        caused = await store.events_by_causation(cause)
        assert sorted(e.data["n"] for e in caused) == [1, 2, 3]
        assert all(e.causation_id == cause for e in caused)
        assert [e.position for e in caused] == sorted(e.position for e in caused)
        later = await store.events_by_correlation("c-1", from_position=correlated[1].position)
        assert later == correlated[1:]
        assert await store.events_by_correlation("c-1", limit=2) == correlated[:2]
        assert await store.events_by_correlation("c-1", from_position=2**63) == []
        assert await store.events_by_correlation("missing") == []
        assert await store.events_by_causation(str(uuid.uuid4())) == []

    async def test_link_lookups_refuse_bad_arguments(self, store: StoreBase) -> None:
        with pytest.raises(InvalidEvent, match="correlation_id"):
            await store.events_by_correlation("")
        with pytest.raises(InvalidEvent, match="causation_id"):
            await store.events_by_causation(None)  # type: ignore[arg-type]
        with pytest.raises(InvalidEvent, match="from_position"):
            await store.events_by_correlation("c", from_position=0)
        with pytest.raises(InvalidEvent, match="limit"):
            await store.events_by_causation("c", limit=0)

    async def test_lookups_on_a_closed_store_are_refused(self, harness: StoreHarness) -> None:
        store = await harness.open()
        await store.close()
        with pytest.raises(StoreClosed):
            await store.list_streams()
        with pytest.raises(StoreClosed):
            await store.event_at(1)
        with pytest.raises(StoreClosed):
            await store.events_by_correlation("c")
