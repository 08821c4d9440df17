"""Expected-version values for optimistic concurrency."""

from __future__ import annotations

import enum
from typing import Final, TypeAlias

__all__ = ["ANY", "NO_STREAM", "STREAM_EXISTS", "ExpectedVersion", "StreamState"]


class StreamState(enum.Enum):
    """Expectations about a stream that are not a specific version."""

    ANY = "any"
    """Append whatever the stream's version is (no concurrency check)."""
    STREAM_EXISTS = "stream exists"
    """Append only if the stream has at least one event."""

    def __repr__(self) -> str:
        return f"fs.{self.name}"


ANY: Final = StreamState.ANY
STREAM_EXISTS: Final = StreamState.STREAM_EXISTS
NO_STREAM: Final = 0
"""Append only if the stream has no events (its version is 0)."""

ExpectedVersion: TypeAlias = int | StreamState
"""An int (the stream's current version, 0 for a new stream), ``ANY`` or ``STREAM_EXISTS``."""


def describe(expected: ExpectedVersion) -> str:
    if isinstance(expected, StreamState):
        return expected.value
    if expected == NO_STREAM:
        return "no stream (version 0)"
    return f"version {expected}"


def satisfied(expected: ExpectedVersion, actual: int) -> bool:
    """Whether a stream at version ``actual`` meets ``expected``."""
    if expected is ANY:
        return True
    if expected is STREAM_EXISTS:
        return actual > 0
    return expected == actual
