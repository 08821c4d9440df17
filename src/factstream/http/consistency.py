"""Read-your-writes over HTTP with the ``Consistency-Token`` header.

A write answers with ``Consistency-Token: <position>``, the global position its events reached.
A read that sends the token back waits until its read model has processed that position (the
:class:`~factstream.http.ports.ConsistencyWaiter`), then answers as usual with
``Consistency-Status: fresh``. When the wait times out it answers anyway, with status 202, the
data it has, ``Consistency-Status: stale`` and ``Retry-After``. A client may shorten the wait
with ``Prefer: wait=<seconds>`` (RFC 7240); the server's ``consistency_timeout`` caps it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from ..store.base import EventStore
from .ports import ConsistencyWaiter
from .problems import Problem

__all__ = [
    "STATUS_HEADER",
    "TOKEN_HEADER",
    "Freshness",
    "await_token",
    "parse_prefer_wait",
    "parse_token",
    "token_headers",
]

TOKEN_HEADER = "Consistency-Token"
STATUS_HEADER = "Consistency-Status"
_MAX_TOKEN_DIGITS = 19  # positions fit in a signed 64-bit integer


class Freshness(enum.Enum):
    """What a read could promise about a consistency token."""

    NONE = "none"  # no token was sent
    FRESH = "fresh"  # the read model has processed the token's position
    STALE = "stale"  # the wait timed out; the answer may miss the write


def token_headers(position: int) -> dict[str, str]:
    """Headers a write answers with."""
    return {TOKEN_HEADER: str(position)}


def parse_token(value: str | None) -> int | None:
    """The position in a ``Consistency-Token`` header (None when absent).

    Raises:
        Problem: 400 when the header is not a non-negative integer.
    """
    if value is None:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_TOKEN_DIGITS:
        raise Problem(
            f"{TOKEN_HEADER} must be a position (a non-negative integer) as returned by a "
            f"write, got {value[:40]!r}",
            status=400,
            kind="invalid-consistency-token",
        )
    return int(text)


def parse_prefer_wait(value: str | None, cap: float) -> float:
    """The ``wait`` preference of a ``Prefer`` header in seconds, capped at ``cap``."""
    if not value:
        return cap
    for part in value.split(","):
        name, _, argument = part.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                seconds = float(argument.strip().strip('"'))
            except ValueError:
                return cap
            if seconds != seconds or seconds < 0:  # NaN or negative: ignore the preference
                return cap
            return min(seconds, cap)
    return cap


async def await_token(
    headers: Mapping[str, str],
    store: EventStore,
    waiter: ConsistencyWaiter | None,
    cap: float,
) -> Freshness:
    """Wait for the position in the request's token, if any.

    Without a waiter the read is served from the log itself, which is always current.

    Raises:
        Problem: 400 for a malformed token, or one beyond the head of the log (it was not
            produced by this system).
    """
    position = parse_token(headers.get(TOKEN_HEADER.lower()))
    if position is None:
        return Freshness.NONE
    if waiter is None or position == 0:
        return Freshness.FRESH
    head = await store.head_position()
    if position > head:
        raise Problem(
            f"{TOKEN_HEADER} {position} is beyond the newest position in the log ({head}); "
            "send a token returned by a write of this system",
            status=400,
            kind="invalid-consistency-token",
        )
    timeout = parse_prefer_wait(headers.get("prefer"), cap)
    reached = await waiter.wait_for(position, timeout)
    return Freshness.FRESH if reached else Freshness.STALE
