"""A Redis cache of ``get_order`` answers, safe against stale writes.

Every entry carries the position of the order's last event it reflects. After the ``orders``
projection commits a batch, each order it changed gets a tombstone at the new position; an
entry (or tombstone) is replaced only by one at a position at least as high, in one Lua script.
So a query that read the SQL read model just before a change cannot put the older answer back
after the change's invalidation, and writes are idempotent by position. A query with
``after = p`` ignores entries below ``p`` (read your writes).
"""

from __future__ import annotations

from typing import Any

import msgspec

from .views import OrderView

__all__ = ["OrderCache"]

# KEYS[1] = the entry; ARGV = position, value, ttl seconds, tombstone (1) or view (0).
# A view replaces anything older or a tombstone at its own position; a tombstone replaces
# only what is older (a view at the same position is already current).
_PUT_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok then
    local held = tonumber(decoded['position'])
    local new = tonumber(ARGV[1])
    if held > new or (held == new and ARGV[4] == '1') then
      return 0
    end
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
"""


class _Entry(msgspec.Struct, frozen=True):
    """A cached view at ``position``, or (``view`` is ``None``) a tombstone."""

    position: int
    view: OrderView | None


class OrderCache:
    """Caches order views in Redis under ``<prefix>order:<id>`` for ``ttl`` seconds.

    Args:
        client: a ``redis.asyncio.Redis`` client.
        prefix: the key prefix (one per system, so several share a Redis).
        ttl: seconds an entry lives.
    """

    def __init__(self, client: Any, *, prefix: str = "factstream:orders:", ttl: int = 60) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl = ttl
        self.hits = 0
        self.misses = 0
        self._put = client.register_script(_PUT_IF_NEWER)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "factstream:orders:", ttl: int = 60) -> OrderCache:
        """A cache on the Redis at ``url`` (``redis://host:port/db``); needs the redis extra."""
        import redis.asyncio

        return cls(redis.asyncio.Redis.from_url(url), prefix=prefix, ttl=ttl)

    def key(self, order_id: str) -> str:
        return f"{self.prefix}order:{order_id}"

    async def get(self, order_id: str, after: int = 0) -> OrderView | None:
        """The cached view, or ``None`` on a miss, a tombstone or an entry below ``after``."""
        raw = await self.client.get(self.key(order_id))
        if raw is not None:
            entry = msgspec.json.decode(raw, type=_Entry)
            if entry.view is not None and entry.position >= after:
                self.hits += 1
                return entry.view
        self.misses += 1
        return None

    async def put(self, view: OrderView) -> bool:
        """Cache ``view`` unless a newer entry or tombstone is there; whether it was stored."""
        stored = await self._put(
            keys=[self.key(view.order_id)],
            args=[view.position, msgspec.json.encode(_Entry(view.position, view)), self.ttl, 0],
        )
        return bool(stored)

    async def invalidate(self, changed: dict[str, int]) -> None:
        """Mark ``{order_id: position}`` changed: older entries are no longer served."""
        async with self.client.pipeline(transaction=False) as pipe:
            for order_id, position in changed.items():
                await self._put(
                    keys=[self.key(order_id)],
                    args=[position, msgspec.json.encode(_Entry(position, None)), self.ttl, 1],
                    client=pipe,
                )
            await pipe.execute()

    async def clear(self) -> int:
        """Delete every entry under the prefix (tests, demos); how many were deleted."""
        deleted = 0
        async for key in self.client.scan_iter(match=f"{self.prefix}*", count=500):
            deleted += await self.client.delete(key)
        return deleted

    async def close(self) -> None:
        await self.client.aclose()
