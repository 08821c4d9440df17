"""Poison events: retried, then parked with the rest of their stream; other streams go on;
retried after a fix in order, or skipped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import factstream as fs
from factstream.projections import (
    DeadLetters,
    Projection,
    ProjectionRunner,
    RetryPolicy,
    SqlTarget,
    SqlTransaction,
    handles,
)

from .helpers import query

FAST = RetryPolicy(attempts=3, first_delay=0.0)


class Fragile(Projection[SqlTransaction]):
    """Fails on events marked poison while ``broken``; records the order it applies in."""

    name = "fragile"
    tables = {  # noqa: RUF012
        "applied": (
            "CREATE TABLE {applied} (seq BIGINT PRIMARY KEY, stream_id TEXT NOT NULL, "
            "position BIGINT NOT NULL)"
        ),
    }

    def __init__(self) -> None:
        super().__init__()
        self.broken = True
        self.calls: dict[int, int] = {}
        self.seq = 0

    @handles("Happened")
    def happened(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
        self.calls[event.position] = self.calls.get(event.position, 0) + 1
        if self.broken and event.data.get("poison"):
            raise ValueError(f"cannot digest {event.data}")
        self.seq += 1
        tx.execute(
            "INSERT INTO {applied} VALUES (?, ?, ?)", (self.seq, event.stream_id, event.position)
        )


async def _append(store: fs.EventStore, stream: str, *poison: bool) -> list[int]:
    result = await store.append(
        stream, [fs.NewEvent("Happened", {"poison": flag}) for flag in poison]
    )
    return list(range(result.first_position, result.position + 1))


async def _applied(target: SqlTarget) -> dict[str, list[int]]:
    rows = await query(target, "SELECT stream_id, position FROM applied ORDER BY seq")
    found: dict[str, list[int]] = {}
    for stream, position in rows:
        found.setdefault(stream, []).append(int(position))
    return found


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - polls another database
            await asyncio.sleep(0.02)


async def test_poison_event_parks_its_stream_while_others_go_on_then_retry_replays_in_order(
    store: fs.EventStore, target: SqlTarget
) -> None:
    a1 = await _append(store, "a", False, True, False)  # the second event is poison
    b1 = await _append(store, "b", False, False)
    projection = Fragile()
    async with ProjectionRunner(
        store, projection, target, retry=FAST, batch_size=100, maintenance_interval=0.05
    ) as runner:
        assert await runner.wait_for(b1[-1], timeout=20)
        assert projection.calls[a1[1]] == 1 + FAST.attempts  # the batch, then every retry
        assert await _applied(target) == {"a": a1[:1], "b": b1}

        # Live: the parked stream keeps parking, the others keep applying.
        a2 = await _append(store, "a", False)
        b2 = await _append(store, "b", False)
        assert await runner.wait_for(b2[-1], timeout=20)
        assert await _applied(target) == {"a": a1[:1], "b": b1 + b2}

        async with DeadLetters(target, "fragile") as dlq:
            [parked] = await dlq.streams()
            assert (parked.stream_id, parked.count, parked.first_position) == ("a", 3, a1[1])
            assert parked.error is not None
            assert "cannot digest" in parked.error
            letters = await dlq.list()
            assert [letter.position for letter in letters] == [*a1[1:], *a2]
            assert [letter.attempts for letter in letters] == [FAST.attempts, 0, 0]
            shown = await dlq.show(a1[1])
            assert shown is not None
            assert shown.event.data == {"poison": True}
            assert shown.event.stream_id == "a"
            assert shown.error == parked.error

            projection.broken = False  # the fix is deployed
            assert await dlq.retry("a") == 3

            async def drained() -> bool:
                return not await dlq.list()

            await _eventually(drained)
        assert await _applied(target) == {"a": a1 + a2, "b": b1 + b2}

        # The stream is unparked: its new events apply directly.
        a3 = await _append(store, "a", False)
        assert await runner.wait_for(a3[-1], timeout=20)
        assert (await _applied(target))["a"] == a1 + a2 + a3


async def test_a_parked_event_can_be_skipped_and_the_rest_retried(
    store: fs.EventStore, target: SqlTarget
) -> None:
    a = await _append(store, "a", True, False)
    b = await _append(store, "b", False)
    async with ProjectionRunner(
        store, Fragile(), target, retry=FAST, maintenance_interval=0.05
    ) as runner:
        assert await runner.wait_for(b[-1], timeout=20)
        async with DeadLetters(target, "fragile") as dlq:
            assert await dlq.skip(a[0]) is True
            assert await dlq.skip(a[0]) is False
            assert [letter.position for letter in await dlq.list("a")] == [a[1]]
            await dlq.retry("a")

            async def drained() -> bool:
                return not await dlq.list()

            await _eventually(drained)
    assert await _applied(target) == {"a": [a[1]], "b": b}


async def test_a_failed_event_that_succeeds_on_retry_is_not_parked(
    store: fs.EventStore, target: SqlTarget
) -> None:
    class Flaky(Fragile):
        @handles("Happened")
        def happened(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
            if event.data.get("poison") and self.calls.get(event.position, 0) == 1:
                self.broken = False  # the second attempt works
            super().happened(event, tx)

    positions = await _append(store, "a", False, True, False)
    async with ProjectionRunner(store, Flaky(), target, retry=FAST) as runner:
        assert await runner.wait_for(positions[-1], timeout=20)
        async with DeadLetters(target, "fragile") as dlq:
            assert await dlq.list() == []
    assert await _applied(target) == {"a": positions}
