"""Redis read models: hot key-value views, written idempotently by position.

Redis has no transaction that a handler can hold open, so a batch's writes are queued on the
:class:`RedisTransaction` and sent, with the parked events and the new checkpoints, as one
Lua script (``projections/lua/batch.lua``) that applies everything atomically, and only when
the stored checkpoints are still the ones the runner started the batch from. A batch sent
twice (a reply lost, a runner killed after the script ran, two runners at once) applies once.

Keys: a projection's keys are ``{prefix}{projection}:{key}``; factstream's own keys for it
(checkpoints, dead letters, version) are ``{prefix}{projection}:_fs:*``.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import msgspec

from ...events import RecordedEvent
from ..deadletters import DeadLetter
from ..errors import CheckpointConflict, ProjectionOutdated
from ..projection import Projection
from .base import BatchTransaction, ReadModel

__all__ = [
    "RedisReadModel",
    "RedisTarget",
    "RedisTransaction",
    "glob_escape",
    "open_redis_read_model",
]

Scalar = str | int | float
_encode = msgspec.json.Encoder().encode
_decode_event = msgspec.json.Decoder(RecordedEvent).decode


def _script() -> str:
    folder = resources.files("factstream.projections").joinpath("lua")
    return folder.joinpath("batch.lua").read_text(encoding="utf-8")


def _text(value: Scalar | bytes) -> str:
    if isinstance(value, bool):
        raise TypeError("booleans are not Redis values; store 0/1 or 'true'/'false'")
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TypeError(f"Redis values are str, int or float, got {type(value).__name__}")


def _integer(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"an increment must be an int, got {value!r}")
    return str(value)


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """Read models in Redis (standalone server). Needs the ``redis`` extra.

    Attributes:
        url: ``redis://host:port/db``.
        prefix: put before every key, so several applications (or tests) share a server.
    """

    url: str
    prefix: str = "fs:"

    async def connect(self) -> Any:
        """A new ``redis.asyncio.Redis`` client (strings decoded)."""
        import redis.asyncio

        return redis.asyncio.Redis.from_url(self.url, decode_responses=True)

    def key(self, projection: str, key: str) -> str:
        """The full Redis key of ``projection``'s ``key`` (what queries read)."""
        return f"{self.prefix}{projection}:{key}"

    def describe(self) -> str:
        return f"{self.url} prefix {self.prefix!r}"

    async def reset(self, projection: str) -> int:
        """Delete every key of ``projection`` (its view, checkpoints, dead letters).

        Returns:
            How many keys were deleted.
        """
        client = await self.connect()
        try:
            deleted = 0
            pattern = glob_escape(f"{self.prefix}{projection}:") + "*"
            batch: list[str] = []
            async for key in client.scan_iter(match=pattern, count=500):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += await client.delete(*batch)
                    batch = []
            if batch:
                deleted += await client.delete(*batch)
            return deleted
        finally:
            await client.aclose()


def glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisTransaction:
    """What a Redis projection's handlers write through.

    Writes are queued and sent with the checkpoint in one atomic script when the batch
    commits. Keys are the projection's own (``tx.hset("order:1", ...)`` writes
    ``{prefix}{projection}:order:1``). Reads (:meth:`get`, :meth:`hget`, :meth:`hgetall`,
    :meth:`smembers`) see what is committed, not this batch's queued writes.
    """

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._ops: list[list[str]] = []
        self._after_commit: list[Callable[[], Any]] = []

    def key(self, key: str) -> str:
        """The full Redis key behind the projection's ``key``."""
        return self._prefix + key

    def _queue(self, command: str, key: str, *args: str) -> None:
        self._ops.append([command, self._prefix + key, *args])

    def set(self, key: str, value: Scalar) -> None:
        self._queue("SET", key, _text(value))

    def delete(self, *keys: str) -> None:
        for key in keys:
            self._queue("DEL", key)

    def incrby(self, key: str, amount: int = 1) -> None:
        self._queue("INCRBY", key, _integer(amount))

    def hset(self, key: str, mapping: Mapping[str, Scalar]) -> None:
        if mapping:
            args = [part for f, v in mapping.items() for part in (str(f), _text(v))]
            self._queue("HSET", key, *args)

    def hdel(self, key: str, *fields: str) -> None:
        if fields:
            self._queue("HDEL", key, *fields)

    def hincrby(self, key: str, field: str, amount: int = 1) -> None:
        self._queue("HINCRBY", key, field, _integer(amount))

    def sadd(self, key: str, *members: Scalar) -> None:
        if members:
            self._queue("SADD", key, *map(_text, members))

    def srem(self, key: str, *members: Scalar) -> None:
        if members:
            self._queue("SREM", key, *map(_text, members))

    def zadd(self, key: str, mapping: Mapping[str, float]) -> None:
        if mapping:
            args = [part for m, s in mapping.items() for part in (_text(s), str(m))]
            self._queue("ZADD", key, *args)

    def zincrby(self, key: str, amount: float, member: str) -> None:
        self._queue("ZINCRBY", key, _text(amount), member)

    def zrem(self, key: str, *members: str) -> None:
        if members:
            self._queue("ZREM", key, *members)

    def rpush(self, key: str, *values: Scalar) -> None:
        if values:
            self._queue("RPUSH", key, *map(_text, values))

    def expire(self, key: str, seconds: int) -> None:
        self._queue("EXPIRE", key, _integer(seconds))

    async def get(self, key: str) -> str | None:
        value: str | None = await self._client.get(self._prefix + key)
        return value

    async def hget(self, key: str, field: str) -> str | None:
        value: str | None = await self._client.hget(self._prefix + key, field)
        return value

    async def hgetall(self, key: str) -> dict[str, str]:
        value: dict[str, str] = await self._client.hgetall(self._prefix + key)
        return value

    async def smembers(self, key: str) -> builtins.set[str]:
        value: builtins.set[str] = await self._client.smembers(self._prefix + key)
        return value

    def after_commit(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` (a function or coroutine function) once the batch is applied,
        e.g. to invalidate a query cache (:meth:`RedisQueryCache.invalidate_after_commit`)."""
        self._after_commit.append(callback)


class _RedisBatch(BatchTransaction):
    def __init__(self, model: RedisReadModel) -> None:
        self._model = model
        self.handle: RedisTransaction = RedisTransaction(model.client, model.key_prefix)
        self._expected: dict[int, int] = {}
        self._advance: dict[int, int] = {}
        self._parks: list[list[str]] = []
        self._unparks: list[str] = []

    async def begin(self, expected: Mapping[int, int]) -> None:
        self._expected = dict(expected)

    def park(self, event: RecordedEvent, error: str | None, attempts: int) -> None:
        entry = {
            "event": json.loads(_encode(event)),
            "error": error,
            "attempts": attempts,
            "parked_at": time.time(),
            "retry": 0,
        }
        self._parks.append([str(event.position), json.dumps(entry)])

    def unpark(self, event: RecordedEvent) -> None:
        self._unparks.append(str(event.position))

    def advance(self, positions: Mapping[int, int]) -> None:
        self._advance.update(positions)

    async def commit(self) -> list[Callable[[], Any]]:
        model = self._model
        result = await model.script(
            keys=[model.checkpoints_key, model.dead_letters_key],
            args=[
                json.dumps({str(p): str(c) for p, c in self._expected.items()}),
                json.dumps({str(p): str(c) for p, c in self._advance.items()}),
                json.dumps(self.handle._ops),
                json.dumps(self._parks),
                json.dumps(self._unparks),
            ],
        )
        if int(result[0]) != 1:
            raise CheckpointConflict(
                f"projection {model.name!r} partition {result[1]}: checkpoint is at "
                f"{result[2]}, expected {self._expected.get(int(result[1]))} "
                "(is another runner of this projection running?)"
            )
        callbacks, self.handle._after_commit = self.handle._after_commit, []
        return callbacks

    async def rollback(self) -> None:
        self.handle._ops = []
        self.handle._after_commit = []


class RedisReadModel(ReadModel):
    """A projection's keys in Redis, with its checkpoints and dead letters (generation 1:
    rebuilding a Redis read model means resetting it and catching up again)."""

    def __init__(self, client: Any, target: RedisTarget, name: str) -> None:
        self.client = client
        self.name = name
        self.generation = 1
        self.key_prefix = target.key(name, "")
        self.checkpoints_key = self.key_prefix + "_fs:checkpoints"
        self.dead_letters_key = self.key_prefix + "_fs:dead_letters"
        self.meta_key = self.key_prefix + "_fs:meta"
        self.script = client.register_script(_script())

    async def load_checkpoints(self, partitions: list[int]) -> dict[int, int]:
        values = await self.client.hmget(self.checkpoints_key, [str(p) for p in partitions])
        return {p: int(v or 0) for p, v in zip(partitions, values, strict=True)}

    def transaction(self) -> _RedisBatch:
        return _RedisBatch(self)

    async def _letters(self) -> list[tuple[DeadLetter, dict[str, Any]]]:
        raw: dict[str, str] = await self.client.hgetall(self.dead_letters_key)
        found = []
        for text in raw.values():
            entry = json.loads(text)
            event = _decode_event(json.dumps(entry["event"]).encode())
            letter = DeadLetter(
                self.name,
                self.generation,
                event,
                entry["error"],
                int(entry["attempts"]),
                _utc(entry["parked_at"]),
                bool(entry["retry"]),
            )
            found.append((letter, entry))
        found.sort(key=lambda item: item[0].position)
        return found

    async def parked_streams(self) -> set[str]:
        return {letter.stream_id for letter, _ in await self._letters()}

    async def retry_requests(self) -> list[str]:
        streams: list[str] = []
        for letter, _ in await self._letters():
            if letter.retry_requested and letter.stream_id not in streams:
                streams.append(letter.stream_id)
        return streams

    async def parked_in_stream(self, stream_id: str) -> list[DeadLetter]:
        return [letter for letter, _ in await self._letters() if letter.stream_id == stream_id]

    def is_transient(self, error: BaseException) -> bool:
        import redis.exceptions as errors

        transient = (
            errors.ConnectionError,
            errors.TimeoutError,
            errors.BusyLoadingError,
            errors.TryAgainError,
            ConnectionError,
            TimeoutError,
            OSError,
        )
        return isinstance(error, transient)

    async def close(self) -> None:
        await self.client.aclose()


def _utc(seconds: float) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(float(seconds), dt.UTC)


async def open_redis_read_model(
    target: RedisTarget, projection: Projection[Any], generation: int | None = None
) -> RedisReadModel:
    """Open ``projection``'s read model in Redis.

    Raises:
        ProjectionOutdated: it was built by another version of the projection (reset it).
        ValueError: a generation other than 1 was asked for (Redis read models have one).
    """
    if generation not in (None, 1):
        raise ValueError("Redis read models have one generation; reset and catch up instead")
    client = await target.connect()
    try:
        model = RedisReadModel(client, target, projection.name)
        await client.hsetnx(model.meta_key, "version", str(projection.version))
        stored = int(await client.hget(model.meta_key, "version"))
        if stored != projection.version:
            raise ProjectionOutdated(
                f"projection {projection.name!r}: the Redis read model was built by version "
                f"{stored}, this code is version {projection.version}; reset it "
                "(factstream projections reset) and let the runner catch up"
            )
        return model
    except BaseException:
        await client.aclose()
        raise
