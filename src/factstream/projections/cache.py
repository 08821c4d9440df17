"""A query cache in Redis whose entries projections invalidate through versioned tags.

Each entry is stored with the versions its tags had *before* it was computed; a tag's
version is a counter that an invalidation increments (``INCR``). An entry whose tags moved
since is stale and computed again. Invalidating after the read model's batch committed
(:meth:`RedisQueryCache.invalidate_after_commit`) means no reader can cache an answer older
than the commit under the new versions.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from .readmodels.redis import RedisTarget

__all__ = ["RedisQueryCache"]

T = TypeVar("T")


class _HasAfterCommit(Protocol):
    def after_commit(self, callback: Callable[[], Any]) -> None: ...


class RedisQueryCache:
    """Cache query answers (JSON-serialisable values) in Redis, tagged for invalidation.

    ::

        cache = RedisQueryCache(fs.RedisTarget("redis://127.0.0.1:6379"), "orders-api")
        orders = await cache.get_or_compute(f"orders:{c}", [f"customer:{c}"], load, ttl=300)

        # in a projection's handler (any target: SQL or Redis)
        cache.invalidate_after_commit(tx, f"customer:{event.data['customer']}")

    Args:
        target: the Redis server (its ``prefix`` is used too).
        namespace: keeps caches of different applications apart.
    """

    def __init__(self, target: RedisTarget, namespace: str = "cache") -> None:
        self._target = target
        self._base = f"{target.prefix}_cache:{namespace}:"
        self._client: Any = None

    async def _redis(self) -> Any:
        if self._client is None:
            self._client = await self._target.connect()
        return self._client

    def _tag(self, tag: str) -> str:
        return f"{self._base}tag:{tag}"

    async def get_or_compute(
        self,
        key: str,
        tags: Sequence[str],
        compute: Callable[[], Awaitable[T]],
        ttl: float | None = None,
    ) -> T:
        """The cached answer for ``key`` if none of ``tags`` was invalidated since it was
        stored; otherwise ``await compute()``, stored under the tags' current versions."""
        client = await self._redis()
        tag_keys = [self._tag(t) for t in tags]
        values = await client.mget([self._base + "entry:" + key, *tag_keys])
        versions = [int(v or 0) for v in values[1:]]
        if values[0] is not None:
            stored = json.loads(values[0])
            if stored["tags"] == versions:
                cached: T = stored["value"]
                return cached
        value = await compute()
        entry = json.dumps({"tags": versions, "value": value})
        await client.set(
            self._base + "entry:" + key, entry, px=None if ttl is None else int(ttl * 1000)
        )
        return value

    async def invalidate(self, *tags: str) -> None:
        """Make every entry stored under one of ``tags`` stale (``INCR`` of its version)."""
        if tags:
            client = await self._redis()
            async with client.pipeline(transaction=False) as pipe:
                for tag in tags:
                    pipe.incr(self._tag(tag))
                await pipe.execute()

    def invalidate_after_commit(self, tx: _HasAfterCommit, *tags: str) -> None:
        """Invalidate ``tags`` once the batch of ``tx`` (a :class:`SqlTransaction` or
        :class:`RedisTransaction`) has committed; nothing when it rolls back."""
        tx.after_commit(lambda: self.invalidate(*tags))

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            result = client.aclose()
            if inspect.isawaitable(result):
                await result
