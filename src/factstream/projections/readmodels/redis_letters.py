"""A Redis read model's dead letters, for :class:`..deadletters.DeadLetters` and
``factstream dlq``: the hash ``{prefix}{projection}:_fs:dead_letters`` (position -> entry).

The runner's batch script parks and unparks entries while this runs, so every change here is
one script that touches an entry only if it is still there: a retry mark never brings back
an event the runner has just applied (which would apply it twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from ..deadletters import DeadLetter, ParkedStream
from .redis import RedisReadModel, RedisTarget

__all__ = ["RedisLetters"]

# KEYS[1] the dead letters hash; ARGV the positions to mark. Entries are JSON written by
# _RedisBatch.park, ending with "retry": 0; the mark edits that text and nothing else (a
# decode and encode in Lua would round numbers in the event's data).
_MARK_RETRY = """
local marked = 0
for _, position in ipairs(ARGV) do
  local entry = redis.call('HGET', KEYS[1], position)
  if entry then
    local changed = string.gsub(entry, '"retry": [01]}$', '"retry": 1}')
    redis.call('HSET', KEYS[1], position, changed)
    marked = marked + 1
  end
end
return marked
"""


class RedisLetters:
    """One projection's parked events in Redis (a Redis read model has one generation)."""

    def __init__(self, client: Any, model: RedisReadModel) -> None:
        self._client = client
        self._model = model

    @classmethod
    async def open(cls, target: RedisTarget, name: str) -> Self:
        client = await target.connect()
        return cls(client, RedisReadModel(client, target, name))

    async def close(self) -> None:
        await self._client.aclose()

    async def _all(self) -> list[DeadLetter]:
        return [letter for letter, _ in await self._model._letters()]

    async def streams(self) -> list[ParkedStream]:
        found: dict[str, list[DeadLetter]] = {}
        for letter in await self._all():
            found.setdefault(letter.stream_id, []).append(letter)
        streams = [
            ParkedStream(
                stream_id,
                len(letters),
                letters[0].position,
                max((x.error for x in letters if x.error is not None), default=None),
            )
            for stream_id, letters in found.items()
        ]
        return sorted(streams, key=lambda s: s.first_position)

    async def list(self, stream_id: str | None, limit: int) -> list[DeadLetter]:
        letters = await self._all()
        if stream_id is not None:
            letters = [letter for letter in letters if letter.stream_id == stream_id]
        return letters[:limit]

    async def show(self, position: int) -> DeadLetter | None:
        for letter in await self._all():
            if letter.position == position:
                return letter
        return None

    async def _mark(self, letters: Sequence[DeadLetter]) -> int:
        if not letters:
            return 0
        positions = [str(letter.position) for letter in letters]
        marked = await self._client.eval(_MARK_RETRY, 1, self._model.dead_letters_key, *positions)
        return int(marked)

    async def retry(self, stream_id: str) -> int:
        return await self._mark([x for x in await self._all() if x.stream_id == stream_id])

    async def retry_all(self) -> int:
        return await self._mark(await self._all())

    async def skip(self, position: int) -> bool:
        return bool(await self._client.hdel(self._model.dead_letters_key, str(position)))
