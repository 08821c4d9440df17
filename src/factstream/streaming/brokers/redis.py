"""The Redis Streams adapter (extra ``redis``: redis-py's asyncio client).

Layout for ``prefix="factstream"``: one stream key per partition (``factstream:p0`` ...), each
entry a field ``__data__`` holding FastStream's binary envelope (headers + JSON body, see
``envelope.py``) and, for the relay's events, a field ``fs-event`` that factstream's consumers
decode in one call (``redis_wire.py``); consumer groups per partition key; dead letters of
group ``billing`` in ``factstream:dlq:billing``; ``factstream:meta`` marks that the keys exist.

Redis 7.0 has no idempotent XADD: a re-publish is stored twice and consumers dedupe by
(stream, version). Publishes go out in batches of ``batch_size`` entries on one connection,
the next batch written before the previous one's reply is read (Redis runs them in order),
with at most ``max_pending`` entries unacknowledged. A batch is one call of a small Lua
script that runs ``XADD`` for each entry (one command and one reply per batch instead of one
per entry: the client's per-command work was most of a publish); its messages share one
future, resolved when the call returned. A failed batch raises its sender's fence
(``redis_wire.XADD_MANY``), so a batch written behind it stores nothing.
The script touches several partition keys, so the adapter needs a single Redis (or keys in
one hash slot), not a Redis Cluster.

A member reads all of its partitions of a group with one ``XREADGROUP`` and acks them in
packed writes (``redis_group.py``). When a reader takes a partition over, ``XAUTOCLAIM``
moves every entry still pending in the group (delivered to a reader that died) to it, and it
reads them again in order before new ones.

Without persistence (this machine's Redis keeps nothing on disk) a Redis restart loses every
stream and group: :meth:`setup` then reports the broker fresh and the relay republishes the
store's log from the start; consumer groups recreate their groups and skip what they applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections import deque
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions

from .base import (
    BrokerUnavailable,
    DeadLetter,
    Delivery,
    OutboundMessage,
    dead_letter_fields,
    letter_from_fields,
)
from .envelope import DATA_FIELD, decode_envelope, encode_envelope
from .redis_group import MemberReader, RedisConsumer
from .redis_wire import XADD_MANY, Entries, event_field, script_call

__all__ = ["RedisStreamsBroker"]

_log = logging.getLogger("factstream.streaming.redis")
_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
# Batches written to Redis whose replies are not read yet (Redis runs them in order).
_DEPTH = 2


class _Batch:
    """Entries sent in one script call, and the one future of them all: the call is atomic,
    so they are acknowledged together (one future instead of one per message)."""

    __slots__ = ("entries", "future")

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.entries: Entries = []
        self.future = future


class _Link:
    """One sender's connection, fence token, and the batches it took and has not answered
    (those written come first, in order; ``written`` says for each whether it was sent)."""

    __slots__ = ("conn", "token", "unanswered", "written")

    def __init__(self) -> None:
        self.conn: Any = None
        self.token = uuid.uuid4().hex.encode()
        self.unanswered: deque[_Batch] = deque()
        self.written: asyncio.Queue[bool] = asyncio.Queue(_DEPTH)


class RedisStreamsBroker:
    """Redis Streams as a partitioned log. Open it with :meth:`open`."""

    name = "redis"
    deduplicates = False

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "factstream",
        partitions: int = 8,
        max_pending: int = 1024,
        batch_size: int = 256,
        maxlen: int | None = None,
    ) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        if batch_size < 1 or max_pending < 1:
            raise ValueError(
                f"batch_size and max_pending must be >= 1, got {batch_size} and {max_pending}"
            )
        # redis-py's annotations of stream replies are unions too wide to use: Any it is.
        self._redis: Any = client
        self.prefix = prefix
        self.partitions = partitions
        self.batch_size = batch_size
        self.maxlen = maxlen
        self._keys = [f"{prefix}:p{p}".encode() for p in range(partitions)]
        self._meta = f"{prefix}:meta"
        self._fence = f"{prefix}:fence".encode()
        self._batch: _Batch | None = None
        self._queue: asyncio.Queue[_Batch] = asyncio.Queue(max(1, max_pending // batch_size))
        self._sender: asyncio.Task[None] | None = None
        self._flush_scheduled = False
        self._broken: BaseException | None = None
        self._script_sha = b""  # loaded by each sender when it starts
        # Stream reads go through a client of their own on the same connections, whose
        # XREADGROUP replies are left as the parser made them: redis-py's callback makes a dict
        # per entry and records a lag metric per read, a fifth of a member's time.
        self._reader: Any = aioredis.Redis(connection_pool=client.connection_pool)
        self._reader.set_response_callback("XREADGROUP", _as_parsed)
        # One reader of all of its partitions per (group, member): see redis_group.py.
        self._members: dict[tuple[str, str], MemberReader] = {}

    @classmethod
    async def open(
        cls, url: str = "redis://127.0.0.1:6379/0", **options: Any
    ) -> RedisStreamsBroker:
        """Connect to the Redis at ``url``. Keyword options are those of the class
        (``prefix``, ``partitions``, ``max_pending``, ``batch_size``, ``maxlen``)."""
        client = aioredis.Redis.from_url(
            url, socket_connect_timeout=2.0, socket_timeout=10.0, health_check_interval=0
        )
        return cls(client, **options)

    def key(self, partition: int) -> str:
        return self._keys[partition].decode()

    def dead_letter_key(self, group: str) -> str:
        return f"{self.prefix}:dlq:{group}"

    async def setup(self) -> bool:
        try:
            created = await self._redis.set(
                self._meta, dt.datetime.now(dt.UTC).isoformat(), nx=True
            )
        except _ERRORS as exc:
            raise BrokerUnavailable(f"Redis setup failed: {exc!r}") from exc
        return bool(created)

    # -- publishing -------------------------------------------------------------------------

    async def publish(self, message: OutboundMessage) -> asyncio.Future[Any]:
        if self._broken is not None:
            raise BrokerUnavailable(f"Redis publish failed: {_describe(self._broken)}")
        headers = message.headers
        msg_id = message.msg_id
        if headers.get("message_id") != msg_id:
            headers = {**headers, "fs-msg-id": msg_id}
        body = message.body
        event = message.event
        fast = b"" if event is None else event_field(msg_id, event, body) or b""
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch(asyncio.get_running_loop().create_future())
        batch.entries.append((self._keys[message.partition], encode_envelope(headers, body), fast))
        if len(batch.entries) >= self.batch_size:
            await self._hand_over()
        elif not self._flush_scheduled:
            # Whatever is buffered goes out as soon as the publisher lets the loop run.
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_soon)
        return batch.future

    def _flush_soon(self) -> None:
        self._flush_scheduled = False
        if self._batch is not None and not self._queue.full():
            batch, self._batch = self._batch, None
            self._queue.put_nowait(batch)
            self._ensure_sender()

    async def _hand_over(self) -> None:
        batch, self._batch = self._batch, None
        assert batch is not None
        self._ensure_sender()
        await self._queue.put(batch)  # waits while max_pending entries are unacknowledged

    def _ensure_sender(self) -> None:
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(
                self._send(), name="factstream-redis-sender"
            )

    async def _send(self) -> None:
        link = _Link()
        replies = asyncio.get_running_loop().create_task(self._read_replies(link))
        try:
            await self._write_batches(link)
        finally:
            replies.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await replies
            # Batches taken and not answered (a cancelled sender): given up, as queued ones.
            for batch in link.unanswered:
                batch.future.cancel()
                self._queue.task_done()
            if link.conn is not None:
                await self._redis.connection_pool.release(link.conn)

    async def _write_batches(self, link: _Link) -> None:
        """Write each batch as it comes, at most ``_DEPTH`` ahead of the replies read."""
        while True:
            batch = await self._queue.get()
            link.unanswered.append(batch)
            sent = False
            if self._broken is None:
                try:
                    conn = link.conn
                    if conn is None:
                        conn = link.conn = await self._redis.connection_pool.get_connection()
                        # Loaded here: with batches written ahead, a NOSCRIPT could not be
                        # answered by sending the batch again in its place.
                        self._script_sha = (await self._redis.script_load(XADD_MANY)).encode()
                    payload = script_call(
                        self._script_sha, self._fence, link.token, batch.entries, self.maxlen or 0
                    )
                    await conn.send_packed_command(payload, check_health=False)
                    sent = True
                except Exception as exc:
                    # Not only redis-py's errors: when the reply reader's failed read
                    # disconnects the connection while this write is under way, redis-py
                    # fails with AttributeError (its writer is gone). Either way the link is
                    # broken, and the batch fails like the ones after it.
                    self._broken = exc
            await link.written.put(sent)

    async def _read_replies(self, link: _Link) -> None:
        """Resolve each written batch's future with its reply, in order."""
        while True:
            sent = await link.written.get()
            if sent:
                try:
                    await link.conn.read_response()
                except Exception as exc:  # not only redis-py's: see _write_batches
                    # Later batches are failed unsent, and those written already are
                    # refused by the fence, so nothing is stored after a gap.
                    if self._broken is None:
                        self._broken = exc
            batch = link.unanswered.popleft()
            future = batch.future
            if not future.done():
                if self._broken is None:
                    future.set_result(None)
                else:
                    future.set_exception(
                        BrokerUnavailable(f"XADD failed: {_describe(self._broken)}")
                    )
            self._queue.task_done()
            if self._batch is not None and not self._queue.full():
                # A partial batch whose flush found the queue full (with no publish after it
                # to flush it again) goes now. No publisher waits in _hand_over meanwhile:
                # it empties _batch before waiting, and nothing is added while it waits.
                batch, self._batch = self._batch, None
                self._queue.put_nowait(batch)

    def cancel_pending(self) -> None:
        """Fail what is buffered or queued and accept publishes again (after a failure)."""
        batches = [] if self._batch is None else [self._batch]
        self._batch = None
        while not self._queue.empty():
            batches.append(self._queue.get_nowait())
            self._queue.task_done()
        for batch in batches:
            batch.future.cancel()
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None
        self._broken = None

    # -- consuming --------------------------------------------------------------------------

    async def consumer(
        self, group: str, partition: int, *, max_in_flight: int, member: str
    ) -> RedisConsumer:
        reader = self._members.get((group, member))
        if reader is None:
            reader = self._members[group, member] = MemberReader(self._redis, group, member)
        consumer = RedisConsumer(
            self._redis,
            self._reader,
            reader,
            self.key(partition),
            group,
            partition,
            max_in_flight,
            member,
        )
        await consumer.start()
        return consumer

    # -- dead letters -----------------------------------------------------------------------

    async def dead_letter(
        self, group: str, delivery: Delivery, error: str, delivery_count: int
    ) -> None:
        headers = dead_letter_fields(group, delivery, error, delivery_count)
        try:
            await self._redis.xadd(
                self.dead_letter_key(group),
                {DATA_FIELD: encode_envelope(headers, delivery.body)},
            )
        except _ERRORS as exc:
            raise BrokerUnavailable(f"cannot store a dead letter: {exc!r}") from exc

    async def dead_letters(self, group: str, limit: int = 1000) -> list[DeadLetter]:
        try:
            entries = await self._redis.xrange(self.dead_letter_key(group), count=limit)
        except _ERRORS as exc:
            raise BrokerUnavailable(f"cannot read dead letters: {exc!r}") from exc
        letters = []
        for entry_id, fields in entries:
            headers, body = decode_envelope(fields[DATA_FIELD])
            letters.append(letter_from_fields(entry_id.decode(), headers, body))
        return letters

    async def delete_dead_letter(self, group: str, letter_id: str) -> None:
        try:
            await self._redis.xdel(self.dead_letter_key(group), letter_id)
        except _ERRORS as exc:
            raise BrokerUnavailable(f"cannot delete a dead letter: {exc!r}") from exc

    async def destroy(self) -> None:
        keys: list[Any] = [*self._keys, self._meta, self._fence]
        async for key in self._redis.scan_iter(match=f"{self.prefix}:dlq:*"):
            keys.append(key)
        await self._redis.delete(*keys)

    async def close(self) -> None:
        if self._batch is not None:
            self._flush_soon()
        if self._sender is not None and not self._queue.empty():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._queue.join()
        self.cancel_pending()
        for reader in self._members.values():
            await reader.close()
        await self._redis.aclose()


def _as_parsed(response: Any, **options: Any) -> Any:
    return response


def _describe(exc: BaseException) -> str:
    """The error's type and text (redis-py's ``repr`` of a server error hides the text)."""
    return f"{type(exc).__name__}: {exc}"
