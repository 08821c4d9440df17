"""Inspecting, replaying and skipping a consumer group's dead letters."""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections import defaultdict

from .brokers.base import Broker, DeadLetter, OutboundMessage
from .partitioning import category_of
from .state.base import StreamingState, StreamMark

__all__ = ["DeadLetters"]


class DeadLetters:
    """The dead letters of consumer group ``group``.

    ``replay`` publishes parked messages again (with a new dedupe id, so JetStream does not drop
    them) after unparking their streams; the group's members then apply them in version order
    (a replayed message that arrives after a later event of its stream was already applied
    from the store is skipped). ``skip`` gives up on a stream's parked events: they are marked
    applied and deleted, and the stream flows again from the next version.
    """

    def __init__(self, broker: Broker, state: StreamingState, group: str) -> None:
        self.broker = broker
        self.state = state
        self.group = group

    async def list(self, limit: int = 1000) -> builtins.list[DeadLetter]:
        """The oldest ``limit`` dead letters, oldest first."""
        return await self.broker.dead_letters(self.group, limit)

    async def parked(self) -> dict[str, StreamMark]:
        """Parked streams: stream id -> mark (last applied version, parked from version)."""
        return await self.state.parked_streams(self.group)

    async def _selected(self, stream_id: str | None, limit: int) -> builtins.list[DeadLetter]:
        letters = await self.list(limit)
        return [
            letter
            for letter in letters
            if stream_id is None or letter.headers.get("ce-fsstream") == stream_id
        ]

    async def replay(self, stream_id: str | None = None, limit: int = 1000) -> int:
        """Unpark ``stream_id`` (or every parked stream) and publish its dead letters again.

        Returns:
            The number of messages replayed.
        """
        letters = await self._selected(stream_id, limit)
        by_stream: dict[str, builtins.list[DeadLetter]] = defaultdict(builtins.list)
        for letter in letters:
            by_stream[letter.headers.get("ce-fsstream", "")].append(letter)
        marks = await self.state.load_marks(self.group, [s for s in by_stream if s])
        await self.state.save_marks(
            self.group,
            {s: StreamMark(marks.get(s, StreamMark()).version, None) for s in by_stream if s},
        )
        for stream, items in by_stream.items():
            items.sort(key=lambda letter: int(letter.headers.get("ce-fsversion", "0")))
            for letter in items:
                future = await self.broker.publish(
                    OutboundMessage(
                        letter.partition,
                        category_of(stream or "_"),
                        stream or "_",
                        f"{letter.msg_id}:replay:{uuid.uuid4().hex[:8]}",
                        dict(letter.headers),
                        letter.body,
                    )
                )
                # Shielded: the future may be shared with other messages of its batch.
                await asyncio.shield(future)
                await self.broker.delete_dead_letter(self.group, letter.id)
        return len(letters)

    async def skip(self, stream_id: str, limit: int = 1000) -> int:
        """Mark ``stream_id``'s dead letters applied, delete them and unpark the stream.

        Returns:
            The number of dead letters skipped.
        """
        letters = await self._selected(stream_id, limit)
        versions = [int(letter.headers.get("ce-fsversion", "0")) for letter in letters]
        mark = (await self.state.load_marks(self.group, [stream_id])).get(stream_id, StreamMark())
        await self.state.save_marks(
            self.group, {stream_id: StreamMark(max([mark.version, *versions]), None)}
        )
        for letter in letters:
            await self.broker.delete_dead_letter(self.group, letter.id)
        return len(letters)
