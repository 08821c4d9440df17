"""Time-ordered identifiers (UUID version 7, RFC 9562)."""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["uuid7"]


class _UUID7Generator:
    """Monotonic UUIDv7 source.

    The 48-bit millisecond timestamp is followed by a 12-bit counter (``rand_a``) that is seeded
    randomly each millisecond and incremented within it, so ids made by one process sort in the
    order they were made (RFC 9562, section 6.2, method 1). When the counter overflows, the
    timestamp is advanced by one millisecond rather than going backwards.
    """

    __slots__ = ("_counter", "_last_ms", "_lock")

    def __init__(self) -> None:
        self._last_ms = 0
        self._counter = 0
        self._lock = threading.Lock()

    def __call__(self) -> uuid.UUID:
        with self._lock:
            now_ms = time.time_ns() // 1_000_000
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                # Leave headroom so a burst within one millisecond rarely overflows.
                self._counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
            else:
                self._counter += 1
                if self._counter > 0xFFF:
                    self._last_ms += 1
                    self._counter = 0
            ms = self._last_ms
            counter = self._counter
        tail = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
        value = (ms & 0xFFFF_FFFF_FFFF) << 80
        value |= 0x7 << 76  # version
        value |= counter << 64
        value |= 0x2 << 62  # variant 10xx
        value |= tail
        return uuid.UUID(int=value)


uuid7 = _UUID7Generator()
"""Return a new UUIDv7. Ids from one process increase strictly."""
