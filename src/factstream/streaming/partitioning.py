"""Partitions and names: which partition a stream belongs to, and its category and subject token.

The partition of a stream is ``crc32(stream_id as UTF-8) mod partitions``: CRC-32 (IEEE 802.3,
the polynomial of ``zlib.crc32`` and of most languages' standard libraries) is stable across
processes, machines and Python versions (``hash()`` is salted per process), cheap (about 0.1 µs)
and spreads stream ids evenly enough for partitioning. Any other service can compute the same
partition, so a consumer written in another language can find a stream's partition.

The number of partitions is fixed for a deployment: changing it moves streams between
partitions, so per-stream order is only kept if the old partitions are drained first.
"""

from __future__ import annotations

import re
import zlib

__all__ = ["category_of", "partition_of", "subject_token"]


def partition_of(stream_id: str, partitions: int) -> int:
    """The partition (``0 <= p < partitions``) of ``stream_id``: CRC-32 of its UTF-8 mod P."""
    return zlib.crc32(stream_id.encode("utf-8")) % partitions


def category_of(stream_id: str) -> str:
    """The stream's category: the part before the first ``-`` (``order-42`` -> ``order``).

    A stream id without ``-`` is its own category.
    """
    head, _, _ = stream_id.partition("-")
    return head or "_"


_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_ALL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def subject_token(text: str) -> str:
    """``text`` as one NATS subject token: characters other than ``[A-Za-z0-9_-]`` (including
    ``.``, ``*``, ``>`` and whitespace, which NATS treats specially) become ``%XX`` per UTF-8 byte.

    The mapping is reversible (``urllib.parse.unquote``) and the identity for ordinary ids.
    """
    if _ALL_SAFE.fullmatch(text):
        return text
    if not text:
        return "%00"
    return "".join(
        ch if ch in _SAFE else "".join(f"%{b:02X}" for b in ch.encode("utf-8")) for ch in text
    )
