"""What a runner needs from the place a read model lives (SQL database or Redis)."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any

from ...events import RecordedEvent
from ..deadletters import DeadLetter

__all__ = ["BatchTransaction", "ReadModel"]


class BatchTransaction(abc.ABC):
    """One batch: the projection's writes, parked events and checkpoints, all or nothing."""

    #: What the projection's handlers receive.
    handle: Any

    @abc.abstractmethod
    async def begin(self, expected: Mapping[int, int]) -> None:
        """Start the batch; check the checkpoints are still at ``expected``.

        Raises:
            CheckpointConflict, GenerationChanged
        """

    @abc.abstractmethod
    def park(self, event: RecordedEvent, error: str | None, attempts: int) -> None: ...

    @abc.abstractmethod
    def unpark(self, event: RecordedEvent) -> None: ...

    @abc.abstractmethod
    def advance(self, positions: Mapping[int, int]) -> None: ...

    @abc.abstractmethod
    async def commit(self) -> list[Callable[[], Any]]:
        """Commit; return the after-commit callbacks the handlers registered."""

    @abc.abstractmethod
    async def rollback(self) -> None: ...


class ReadModel(abc.ABC):
    """A projection's read model, opened for one runner: one generation of it."""

    name: str
    generation: int

    @abc.abstractmethod
    async def load_checkpoints(self, partitions: list[int]) -> dict[int, int]: ...

    @abc.abstractmethod
    def transaction(self) -> BatchTransaction: ...

    @abc.abstractmethod
    async def parked_streams(self) -> set[str]: ...

    @abc.abstractmethod
    async def retry_requests(self) -> list[str]: ...

    @abc.abstractmethod
    async def parked_in_stream(self, stream_id: str) -> list[DeadLetter]: ...

    @abc.abstractmethod
    def is_transient(self, error: BaseException) -> bool: ...

    @abc.abstractmethod
    async def close(self) -> None: ...
