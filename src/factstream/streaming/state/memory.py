"""Streaming state in this process's memory (tests, the embedded demo)."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping

from .base import Beat, StoredBeat, StreamMark

__all__ = ["MemoryStreamingState"]


class MemoryStreamingState:
    """Checkpoints, leases and marks in dicts; shared by everything given the same object."""

    def __init__(self) -> None:
        self._checkpoints: dict[str, int] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._marks: dict[tuple[str, str], StreamMark] = {}
        self._beats: dict[tuple[str, str, str], tuple[Beat, float, float]] = {}

    async def load_checkpoint(self, name: str) -> int:
        return self._checkpoints.get(name, 0)

    async def save_checkpoint(self, name: str, position: int) -> None:
        self._checkpoints[name] = position

    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        now = time.monotonic()
        held = self._leases.get(name)
        if held is not None and held[0] != owner and held[1] > now:
            return False
        self._leases[name] = (owner, now + ttl)
        return True

    async def release_lease(self, name: str, owner: str) -> None:
        held = self._leases.get(name)
        if held is not None and held[0] == owner:
            del self._leases[name]

    async def lease_holders(self, prefix: str) -> dict[str, str]:
        now = time.monotonic()
        return {
            name: owner
            for name, (owner, expires) in self._leases.items()
            if name.startswith(prefix) and expires > now
        }

    async def load_marks(self, consumer: str, stream_ids: Collection[str]) -> dict[str, StreamMark]:
        marks = self._marks
        found = {}
        for stream_id in stream_ids:
            mark = marks.get((consumer, stream_id))
            if mark is not None:
                found[stream_id] = mark
        return found

    async def save_marks(self, consumer: str, marks: Mapping[str, StreamMark]) -> None:
        for stream_id, mark in marks.items():
            old = self._marks.get((consumer, stream_id))
            version = max(mark.version, old.version if old else 0)
            self._marks[(consumer, stream_id)] = StreamMark(version, mark.parked)

    async def parked_streams(self, consumer: str) -> dict[str, StreamMark]:
        return {
            stream_id: mark
            for (group, stream_id), mark in self._marks.items()
            if group == consumer and mark.parked is not None
        }

    async def save_heartbeat(self, beat: Beat, progress_age: float) -> None:
        now = time.monotonic()
        self._beats[(beat.component, beat.name, beat.member)] = (beat, now, now - progress_age)

    async def load_heartbeats(self) -> list[StoredBeat]:
        now = time.monotonic()
        return [
            StoredBeat(beat, now - beat_at, now - progress_at)
            for _, (beat, beat_at, progress_at) in sorted(self._beats.items())
        ]

    async def forget_heartbeats(self, older_than: float) -> int:
        limit = time.monotonic() - older_than
        old = [key for key, (_, beat_at, _) in self._beats.items() if beat_at < limit]
        for key in old:
            del self._beats[key]
        return len(old)

    async def close(self) -> None:
        return None
