"""Retry policy of failing handlers, and how streams map to partitions."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = ["RetryPolicy", "partition_of"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and how patiently, a failing event is tried before it is parked.

    Attributes:
        attempts: tries in all (at least 1); after the last failure the event is parked.
        first_delay: seconds before the second try.
        multiplier: each later delay is this many times the one before ...
        max_delay: ... up to this many seconds.
    """

    attempts: int = 3
    first_delay: float = 0.05
    multiplier: float = 4.0
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.first_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and multiplier >= 1")

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure (1, 2, ...)."""
        return min(self.max_delay, self.first_delay * self.multiplier ** (failures - 1))


def partition_of(stream_id: str, partitions: int) -> int:
    """The partition of ``stream_id`` among ``partitions`` (stable across processes and
    Python versions: CRC-32 of the UTF-8 stream id)."""
    return zlib.crc32(stream_id.encode()) % partitions
