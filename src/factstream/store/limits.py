"""Input limits shared by every backend."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StoreLimits"]


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """What a store accepts. Anything beyond these is refused with ``InvalidEvent``.

    Attributes:
        max_event_size: the largest encoded ``data`` plus ``metadata`` of one event, in bytes.
        max_stream_id_length: the longest stream id, in characters.
        max_type_length: the longest event type name, in characters.
        max_batch_events: the most events in one append.
    """

    max_event_size: int = 1024 * 1024
    max_stream_id_length: int = 255
    max_type_length: int = 255
    max_batch_events: int = 10_000
