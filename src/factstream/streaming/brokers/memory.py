"""The in-process broker: for tests and the embedded demo, with the port's semantics."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .base import (
    BrokerUnavailable,
    DeadLetter,
    Delivery,
    OutboundMessage,
    dead_letter_fields,
    letter_from_fields,
)

__all__ = ["MemoryBroker"]


@dataclass(slots=True)
class _Cursor:
    """One group's progress through one partition."""

    next_index: int = 0
    in_flight: set[int] = field(default_factory=set)
    redeliver: list[int] = field(default_factory=list)  # sorted indexes
    counts: dict[int, int] = field(default_factory=dict)
    owner: object | None = None


class MemoryBroker:
    """Partitions as lists in this process. Nothing is deduplicated (consumers dedupe).

    ``set_available(False)`` makes every call fail with :class:`BrokerUnavailable`, to test
    what the relay and the consumers do when the broker goes away.
    """

    name = "memory"
    deduplicates = False

    def __init__(self, partitions: int = 8) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        self.partitions = partitions
        self._logs: list[list[OutboundMessage]] = [[] for _ in range(partitions)]
        self._cursors: dict[tuple[str, int], _Cursor] = {}
        self._changed = [asyncio.Event() for _ in range(partitions)]
        self._letters: dict[str, list[DeadLetter]] = {}
        self._letter_ids = itertools.count(1)
        self._available = True
        self._set_up = False

    def set_available(self, available: bool) -> None:
        self._available = available

    def _check(self) -> None:
        if not self._available:
            raise BrokerUnavailable("the memory broker is switched off")

    def messages(self, partition: int) -> list[OutboundMessage]:
        """Everything published to ``partition`` (for tests)."""
        return list(self._logs[partition])

    async def setup(self) -> bool:
        self._check()
        fresh = not self._set_up
        self._set_up = True
        return fresh

    async def publish(self, message: OutboundMessage) -> asyncio.Future[Any]:
        self._check()
        self._logs[message.partition].append(message)
        changed = self._changed[message.partition]
        self._changed[message.partition] = asyncio.Event()
        changed.set()
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def cancel_pending(self) -> None:
        return None

    async def consumer(
        self, group: str, partition: int, *, max_in_flight: int, member: str
    ) -> _MemoryConsumer:
        self._check()
        cursor = self._cursors.setdefault((group, partition), _Cursor())
        # A new reader takes over whatever the previous one left unacknowledged.
        cursor.redeliver = sorted({*cursor.redeliver, *cursor.in_flight})
        cursor.in_flight.clear()
        consumer = _MemoryConsumer(self, cursor, partition, max_in_flight)
        cursor.owner = consumer
        return consumer

    async def dead_letter(
        self, group: str, delivery: Delivery, error: str, delivery_count: int
    ) -> None:
        self._check()
        headers = dead_letter_fields(group, delivery, error, delivery_count)
        letter = letter_from_fields(str(next(self._letter_ids)), headers, delivery.body)
        self._letters.setdefault(group, []).append(letter)

    async def dead_letters(self, group: str, limit: int = 1000) -> list[DeadLetter]:
        self._check()
        return list(self._letters.get(group, [])[:limit])

    async def delete_dead_letter(self, group: str, letter_id: str) -> None:
        self._check()
        letters = self._letters.get(group, [])
        self._letters[group] = [letter for letter in letters if letter.id != letter_id]

    async def destroy(self) -> None:
        self._logs = [[] for _ in range(self.partitions)]
        self._cursors.clear()
        self._letters.clear()
        self._set_up = False

    async def close(self) -> None:
        return None


class _MemoryConsumer:
    def __init__(
        self, broker: MemoryBroker, cursor: _Cursor, partition: int, max_in_flight: int
    ) -> None:
        self._broker = broker
        self._cursor = cursor
        self.partition = partition
        self._max_in_flight = max_in_flight
        self._closed = False

    def _take(self, max_messages: int) -> list[Delivery]:
        cursor = self._cursor
        log = self._broker._logs[self.partition]
        room = min(max_messages, self._max_in_flight - len(cursor.in_flight))
        taken: list[int] = []
        while room > len(taken) and cursor.redeliver:
            taken.append(cursor.redeliver.pop(0))
        while room > len(taken) and cursor.next_index < len(log):
            taken.append(cursor.next_index)
            cursor.next_index += 1
        out = []
        for index in taken:
            cursor.in_flight.add(index)
            count = cursor.counts.get(index, 0) + 1
            cursor.counts[index] = count
            message = log[index]
            out.append(
                Delivery(
                    self.partition,
                    message.msg_id,
                    dict(message.headers),
                    message.body,
                    count,
                    str(index + 1),
                    index,
                )
            )
        return out

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        self._broker._check()
        if self._closed or self._cursor.owner is not self:
            raise BrokerUnavailable("this consumer was closed or taken over")
        taken = self._take(max_messages)
        if taken:
            return taken
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._broker._changed[self.partition].wait()
        self._broker._check()
        return self._take(max_messages)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        self._broker._check()
        cursor = self._cursor
        for delivery in deliveries:
            cursor.in_flight.discard(delivery.raw)
            cursor.counts.pop(delivery.raw, None)

    async def nak(self, deliveries: Sequence[Delivery]) -> None:
        self._broker._check()
        cursor = self._cursor
        for delivery in deliveries:
            if delivery.raw in cursor.in_flight:
                cursor.in_flight.discard(delivery.raw)
                bisect.insort(cursor.redeliver, delivery.raw)

    async def lag(self) -> int:
        cursor = self._cursor
        backlog = len(self._broker._logs[self.partition]) - cursor.next_index
        return backlog + len(cursor.in_flight) + len(cursor.redeliver)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        cursor = self._cursor
        if cursor.owner is self:
            cursor.redeliver = sorted({*cursor.redeliver, *cursor.in_flight})
            cursor.in_flight.clear()
            cursor.owner = None
