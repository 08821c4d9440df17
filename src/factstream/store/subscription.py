"""Catch-up-then-live subscriptions over any backend.

A subscription pulls pages from the store as its consumer iterates, so a slow consumer holds at
most one page in memory and slows only its own reads (backpressure by construction). When it
has read everything, it sleeps until the store's notifier reports a new head.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING, Self

from ..events import RecordedEvent, StoreClosed, StoreUnavailable

if TYPE_CHECKING:
    from .base import StoreBase

__all__ = ["Subscription"]

_NEVER = 2**63  # a head no store reaches: wait for a wake-up or the timeout
_FIRST_RETRY_DELAY = 0.05
_MAX_RETRY_DELAY = 2.0


class Subscription:
    """An async iterator over events from a position on, first stored ones, then live ones.

    Use it as an async context manager::

        async with store.subscribe(from_position=1) as events:
            async for event in events:
                ...

    Each event is delivered once, in position order. Iteration ends when the store closes.
    While the backend is unavailable (``StoreUnavailable``, e.g. a database restart) it keeps
    its position and retries with backoff, so it resumes with nothing missed or repeated.

    Attributes:
        position: the position of the last event delivered (``from_position - 1`` at first).
    """

    page_size = 500

    def __init__(self, store: StoreBase, from_position: int, stream_id: str | None) -> None:
        self._store = store
        self._stream_id = stream_id
        self.position = from_position - 1
        self._last_version = 0
        self._buffer: deque[RecordedEvent] = deque()
        self._started = False
        self._closed = False
        self._retry_delay = _FIRST_RETRY_DELAY

    @property
    def stream_id(self) -> str | None:
        return self._stream_id

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._buffer.clear()
            if self._started:
                self._store._subscription_ended()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> RecordedEvent:
        store = self._store
        notifier = store._notifier
        while not self._buffer:
            if self._closed or store.closed:
                raise StopAsyncIteration
            known_head = notifier.head
            try:
                page = await self._fetch()
            except StoreUnavailable:
                # The backend is away (a server restart): keep the position and try again.
                await notifier.wait(beyond=_NEVER, timeout=self._retry_delay)
                self._retry_delay = min(self._retry_delay * 2, _MAX_RETRY_DELAY)
                continue
            except StoreClosed:
                raise StopAsyncIteration from None
            self._retry_delay = _FIRST_RETRY_DELAY
            if page:
                self._buffer.extend(page)
                break
            if not self._started:
                self._started = True
                store._subscription_started()
            await notifier.wait(beyond=max(known_head, self.position), timeout=store.poll_interval)
        event = self._buffer.popleft()
        self.position = event.position
        self._last_version = event.version
        return event

    async def _fetch(self) -> list[RecordedEvent]:
        store = self._store
        if self._stream_id is None:
            return await store._read_all_page(self.position + 1, self.page_size)
        while True:
            page = await store._read_stream(
                self._stream_id, self._last_version + 1, self.page_size, False
            )
            if not page or page[0].position > self.position:
                return page
            # The part of the stream before from_position is skipped (first pages only).
            self._last_version = page[-1].version
            full = len(page) == self.page_size
            page = [event for event in page if event.position > self.position]
            if page or not full:
                return page
