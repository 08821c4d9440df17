"""Time-ordered identifiers (UUID version 7, RFC 9562)."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
import uuid

__all__ = ["uuid5_of", "uuid7"]

_new_uuid = object.__new__
_set = object.__setattr__
_SAFE_UNKNOWN = uuid.SafeUUID.unknown
_UUID = uuid.UUID
_RAND_B = 0x3FFF_FFFF_FFFF_FFFF


class _UUID7Generator:
    """Monotonic UUIDv7 source.

    The 48-bit millisecond timestamp is followed by 74 bits (``rand_a`` and ``rand_b``) that
    are drawn at random at the first id of each millisecond and incremented by one for every
    further id within it, so ids made by one process sort in the order they were made
    (RFC 9562, section 6.2, method 2, "monotonic random"). If they would overflow, the
    timestamp moves on by one millisecond rather than going backwards.

    The random bits come from a generator seeded by the OS once per process (and again in a
    forked child), not from ``os.urandom`` per id: that system call releases the GIL, and on a
    busy process getting it back costs more than the rest of an append. Ids need to be unique
    and ordered, not secret.
    """

    __slots__ = ("_counter", "_last_ms", "_lock", "_random", "_value")

    def __init__(self) -> None:
        self._last_ms = 0
        self._counter = 0
        self._value = 0
        self._lock = threading.Lock()
        self._random = random.Random(os.urandom(32))

    def _set_counter(self, counter: int) -> None:
        """Move the counter within the current millisecond (tests of the overflow path)."""
        with self._lock:
            self._counter = counter
            self._value = _compose(self._last_ms, counter)

    def reseed(self) -> None:
        self._random = random.Random(os.urandom(32))

    def __call__(self) -> uuid.UUID:
        now_ms = time.time_ns() // 1_000_000
        with self._lock:
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                # The top bit stays clear, so a millisecond has room for 2**73 more ids.
                counter = self._random.getrandbits(73)
                value = _compose(now_ms, counter)
            else:
                counter = self._counter + 1
                if counter & _RAND_B:
                    value = self._value + 1  # the counter's low bits are the id's low bits
                else:  # a carry into rand_a (or beyond): lay the bits out again
                    if counter >= 1 << 74:
                        self._last_ms += 1
                        counter = self._random.getrandbits(73)
                    value = _compose(self._last_ms, counter)
            self._counter = counter
            self._value = value
        made = _new_uuid(_UUID)
        _set(made, "int", value)
        _set(made, "is_safe", _SAFE_UNKNOWN)
        return made


def _compose(ms: int, counter: int) -> int:
    return (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76  # version 7
        | (counter >> 62) << 64  # rand_a: the counter's top 12 bits
        | 0x2 << 62  # variant 10
        | (counter & _RAND_B)  # rand_b: its low 62 bits
    )


_sha1 = hashlib.sha1
_VERSION_5 = 0x5 << 76
_VARIANT = 0x2 << 62
_KEEP = ~(0xF << 76) & ~(0x3 << 62)


def uuid5_of(namespace: bytes, name: str) -> uuid.UUID:
    """``uuid.uuid5(UUID(bytes=namespace), name)``, without the constructor's checks.

    Pass ``namespace`` as 16 bytes (``some_uuid.bytes``, taken once): command handlers derive
    one id per event they write, and ``uuid.uuid5`` spends most of its time converting and
    validating rather than hashing.
    """
    digest = _sha1(namespace + name.encode()).digest()
    value = int.from_bytes(digest[:16], "big") & _KEEP | _VERSION_5 | _VARIANT
    made = _new_uuid(uuid.UUID)
    _set(made, "int", value)
    _set(made, "is_safe", _SAFE_UNKNOWN)
    return made


uuid7 = _UUID7Generator()
"""Return a new UUIDv7. Ids from one process increase strictly."""

if hasattr(os, "register_at_fork"):
    # A forked child must not repeat its parent's random sequence.
    os.register_at_fork(after_in_child=uuid7.reseed)
