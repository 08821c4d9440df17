"""Recognising a re-sent batch (idempotent append).

A batch is a retry of an earlier append when every one of its event ids is stored, in one stream,
at consecutive versions in the same order, with the same content. Then the earlier
:class:`AppendResult` is returned and nothing new is stored. Any other overlap with stored ids is
an error: the caller reused an id for a different event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import msgspec

from ..events import AppendResult, DuplicateEventId
from .encoding import EncodedEvent

__all__ = ["StoredEvent", "match_stored_batch"]

_decode = msgspec.json.Decoder(dict[str, Any]).decode


class StoredEvent(NamedTuple):
    """The stored columns of an event, as far as idempotency needs them."""

    stream_id: str
    version: int
    position: int
    type: str
    schema_version: int
    data: bytes
    metadata: bytes | None
    correlation_id: str | None
    causation_id: str | None


def _same_json(a: bytes | None, b: bytes | None) -> bool:
    if a == b:
        return True
    return _decode(a or b"{}") == _decode(b or b"{}")


def _same_content(new: EncodedEvent, old: StoredEvent) -> bool:
    return (
        new.type == old.type
        and new.schema_version == old.schema_version
        and new.correlation_id == old.correlation_id
        and new.causation_id == old.causation_id
        and _same_json(new.data, old.data)
        and _same_json(new.metadata, old.metadata)
    )


def match_stored_batch(
    stream_id: str,
    batch: Sequence[EncodedEvent],
    stored: Mapping[uuid.UUID, StoredEvent],
) -> AppendResult | None:
    """Decide whether ``batch`` was already appended, given the stored events with its ids.

    Returns:
        The original result when the whole batch is stored as that batch in ``stream_id``;
        ``None`` when none of its ids is stored.

    Raises:
        DuplicateEventId: when some ids are stored but not as this exact batch.
    """
    if not stored:
        return None
    first = stored.get(batch[0].id)
    for index, event in enumerate(batch):
        old = stored.get(event.id)
        if old is None:
            culprit = next(e.id for e in batch if e.id in stored)
            raise DuplicateEventId(
                culprit, stream_id, "it is already stored, but other events of the batch are not"
            )
        if old.stream_id != stream_id:
            raise DuplicateEventId(
                event.id, stream_id, f"it is already stored in stream {old.stream_id!r}"
            )
        if first is None or old.version != first.version + index:
            raise DuplicateEventId(
                event.id, stream_id, "it is already stored, but not as part of this batch"
            )
        if not _same_content(event, old):
            raise DuplicateEventId(
                event.id,
                stream_id,
                f"it is already stored at version {old.version} with different content",
            )
    assert first is not None
    last = stored[batch[-1].id]
    return AppendResult(stream_id, last.version, last.position, first.position)
