"""A consumer group member's reading of Redis Streams: one ``XREADGROUP`` for all of its
partitions, packed ``XACK`` pipelines, and the partition readers (:class:`RedisConsumer`) it
feeds.

A member that owns 8 partitions used to block in 8 ``XREADGROUP`` calls (one task and one
connection each) and pay redis-py's command path for each read and each ack. Here one
:class:`MemberReader` per (group, member) reads every partition that has room in one call,
``XREADGROUP GROUP g m COUNT c BLOCK t STREAMS k1 k2 ... > > ...``, on a connection of its
own, and hands each partition's entries to its reader's buffer; the acks of all partitions
gathered while the previous ones were on the wire go in one write of ``XACK`` commands
packed here (one per key).

Rules that keep the semantics of one reader per partition:

- **Backpressure**: a partition is read only while its buffer is empty and it holds fewer
  than ``max_in_flight`` unacknowledged messages; ``COUNT`` is the least room of the keys read
  (at most half of ``max_in_flight``, so one batch is read ahead while the worker handles
  the one before).
- **Changes of the set** (a partition gets room again, joins or leaves): when the call under
  way blocks on keys that do not include it, the reader is woken with ``CLIENT UNBLOCK`` (its
  reply is then empty) and reads again with the new set.
- **Revocation**: :meth:`RedisConsumer.close` returns only once no call under way reads its
  key (entries a call delivered stay pending under this member, for the next owner's
  ``XAUTOCLAIM``), and a closed reader acks nothing.
- **Own pending entries** (after a takeover or a nak) are read by the partition reader itself,
  with an id instead of ``>``, before its buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import redis.exceptions

from .base import BrokerUnavailable, Delivery
from .envelope import DATA_FIELD, decode_envelope, envelope_body
from .redis_wire import EVENT_FIELD, EnvelopeHeaders, pack_command, read_event_field

__all__ = ["MemberReader", "RedisConsumer"]

_log = logging.getLogger("factstream.streaming.redis")
ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
_CLIENT_ID = pack_command([b"CLIENT", b"ID"])
# How long one XREADGROUP blocks (ms), below the client's socket timeout.
_BLOCK_MS = 2000
# Seconds a call may run before a reader that got room interrupts it (CLIENT UNBLOCK): none.
# Waiting 1 ms first saved unblocks at full speed but added ~0.6 ms to the p50 latency at
# 1,000 events/s (a partition's next entry waited out a call that left it out); an unblock
# that arrives after its call returned finds nothing or ends the next call early (harmless).
_UNBLOCK_AFTER = 0.0
# Seconds before looking again at idle partitions while a busy one holds a full read.
_LOOK_AGAIN = 0.01


class MemberReader:
    """Reads all of one member's partitions of one group in one ``XREADGROUP``, and sends
    their acks in packed pipelines."""

    def __init__(self, redis: Any, group: str, member: str) -> None:
        self._redis = redis
        self._pool: Any = redis.connection_pool
        self._group = group.encode()
        self._member = member.encode()
        self.consumers: dict[bytes, RedisConsumer] = {}
        timeout = self._pool.connection_kwargs.get("socket_timeout")
        self._block_ms = _BLOCK_MS if not timeout else max(1, min(_BLOCK_MS, int(timeout * 500)))
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The call under way: its number, the keys it reads; set when none is.
        self._call = 0
        self._reading: frozenset[bytes] = frozenset()
        self._blocking = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._client_id: int | None = None
        self._unblocking: asyncio.Task[None] | None = None
        self._acks: dict[bytes, list[bytes]] = {}
        self._acked: asyncio.Future[None] | None = None
        self._acker: asyncio.Task[None] | None = None

    @property
    def reading(self) -> frozenset[bytes]:
        """The keys the ``XREADGROUP`` under way reads (empty when none is under way)."""
        return self._reading

    # -- partition readers -------------------------------------------------------------------

    def register(self, consumer: RedisConsumer) -> None:
        self.consumers[consumer.key] = consumer
        self.wake(consumer.key)

    async def unregister(self, consumer: RedisConsumer) -> None:
        """Stop reading ``consumer``'s key; return once no call under way reads it."""
        if self.consumers.get(consumer.key) is consumer:
            del self.consumers[consumer.key]
        await self.quiesce(consumer.key)
        if not self.consumers:
            self._wake.set()  # the reader ends

    async def quiesce(self, key: bytes) -> None:
        """Return once no ``XREADGROUP`` under way reads ``key`` (woken if it blocks)."""
        while key in self._reading:
            self._unblock()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await self._idle.wait()

    def wake(self, key: bytes) -> None:
        """``key`` may be readable now: read it, interrupting a call that blocks without it."""
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="factstream-redis-member-reader"
            )
        elif self._reading and key not in self._reading:
            self._unblock()

    def _unblock(self) -> None:
        if not self._blocking:
            return  # the call under way returns at once
        if self._unblocking is None or self._unblocking.done():
            self._unblocking = asyncio.get_running_loop().create_task(
                self._send_unblock(self._call)
            )

    async def _send_unblock(self, call: int) -> None:
        await asyncio.sleep(_UNBLOCK_AFTER)
        # CLIENT UNBLOCK finds nothing when it overtakes the XREADGROUP (sent on another
        # connection): try again while that call is under way.
        for _ in range(100):
            client = self._client_id
            if call != self._call or not self._reading or client is None:
                return
            try:
                if await self._redis.client_unblock(client):
                    return
            except ERRORS:
                return
            await asyncio.sleep(0.002)

    async def _run(self) -> None:
        conn: Any = None
        try:
            conn = await self._pool.get_connection()
            while self.consumers:
                readable = [(key, c.want()) for key, c in self.consumers.items()]
                keys = [key for key, want in readable if want > 0]
                if not keys:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                count = min(want for _, want in readable if want > 0)
                # A reader left out that got a full read has more waiting: rather than block
                # on the others (and interrupt that call when it gets room), look and wait.
                busy = any(c.backlogged for key, c in self.consumers.items() if key not in keys)
                if self._client_id is None:
                    await conn.send_packed_command(_CLIENT_ID, check_health=False)
                    self._client_id = int(await conn.read_response())
                self._wake.clear()
                try:
                    reply = await self._read(conn, keys, count, None if busy else self._block_ms)
                except redis.exceptions.ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    # A group is gone (Redis restarted without persistence): start it again.
                    for key in keys:
                        await create_group(self._redis, key, self._group)
                    continue
                if not reply:
                    if busy:
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(_LOOK_AGAIN):
                                await self._wake.wait()
                    continue
                consumers = self.consumers
                for key, entries in reply.items() if isinstance(reply, dict) else reply:
                    consumer = consumers.get(key)
                    if consumer is not None and entries:
                        consumer.feed(entries, len(entries) >= count)
        except Exception as exc:  # Redis unreachable, or anything else: the readers raise it
            if not isinstance(exc, (*ERRORS, redis.exceptions.RedisError)):
                _log.exception("the reader of %r in group %r failed", self._member, self._group)
            for consumer in self.consumers.values():
                consumer.fail(exc)
        finally:
            self._client_id = None
            if conn is not None:
                await self._pool.release(conn)

    async def _read(self, conn: Any, keys: list[bytes], count: int, block: int | None) -> Any:
        """One ``XREADGROUP`` of ``keys`` (blocking ``block`` ms unless ``None``)."""
        self._call += 1
        self._reading = frozenset(keys)
        self._blocking = block is not None
        self._idle.clear()
        blocking = [b"BLOCK", b"%d" % block] if block is not None else []
        try:
            await conn.send_packed_command(
                pack_command(
                    [
                        b"XREADGROUP",
                        b"GROUP",
                        self._group,
                        self._member,
                        b"COUNT",
                        b"%d" % count,
                        *blocking,
                        b"STREAMS",
                        *keys,
                        *[b">"] * len(keys),
                    ]
                ),
                check_health=False,
            )
            return await conn.read_response()
        finally:
            self._reading = frozenset()
            self._idle.set()

    # -- acks --------------------------------------------------------------------------------

    async def ack(self, key: bytes, ids: list[bytes]) -> None:
        """``XACK`` ``ids`` of ``key``, together with the other keys' acks of the moment."""
        queued = self._acks.get(key)
        if queued is None:
            self._acks[key] = ids
        else:
            queued.extend(ids)
        if self._acked is None:
            self._acked = asyncio.get_running_loop().create_future()
        future = self._acked
        if self._acker is None or self._acker.done():
            self._acker = asyncio.get_running_loop().create_task(self._send_acks())
        await asyncio.shield(future)  # shared: a cancelled caller must not cancel it

    async def _send_acks(self) -> None:
        conn: Any = None
        try:
            while self._acks:
                acks, future = self._acks, self._acked
                self._acks, self._acked = {}, None
                assert future is not None
                try:
                    if conn is None:
                        conn = await self._pool.get_connection()
                    group = self._group
                    await conn.send_packed_command(
                        b"".join(
                            pack_command([b"XACK", key, group, *ids]) for key, ids in acks.items()
                        ),
                        check_health=False,
                    )
                    failed = None
                    for _ in acks:
                        try:
                            await conn.read_response()
                        except redis.exceptions.ResponseError as exc:
                            failed = exc
                    if failed is not None:
                        raise failed
                except (*ERRORS, redis.exceptions.RedisError) as exc:
                    future.set_exception(BrokerUnavailable(f"XACK failed: {exc!r}"))
                    future.exception()  # retrieved: callers that went away don't log it
                    if conn is not None:
                        await conn.disconnect()
                else:
                    future.set_result(None)
        finally:
            if conn is not None:
                await self._pool.release(conn)

    async def close(self) -> None:
        for task in (self._task, self._unblocking, self._acker):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def create_group(client: Any, key: bytes | str, group: bytes | str) -> None:
    """Create ``group`` on ``key`` (and the key) from the start, unless it exists."""
    try:
        await client.xgroup_create(key, group, id="0", mkstream=True)
    except redis.exceptions.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _id(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _before(entry_id: str) -> str:
    """The greatest stream id smaller than ``entry_id`` (XREADGROUP reads ids above it)."""
    ms, seq = _id(entry_id)
    if seq > 0:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-18446744073709551615" if ms > 0 else "0-0"


class RedisConsumer:
    """One group's reader of one partition, fed by its member's :class:`MemberReader`."""

    def __init__(
        self,
        redis: Any,
        reader_client: Any,
        member_reader: MemberReader,
        key: str,
        group: str,
        partition: int,
        max_in_flight: int,
        member: str,
    ) -> None:
        self._redis = redis
        self._reader: Any = reader_client  # replies as parsed (pending reads)
        self._member_reader = member_reader
        self._key = key
        self.key = key.encode()
        self._group = group
        self._name = member
        self.partition = partition
        self._max_in_flight = max_in_flight
        self._chunk = max_in_flight
        self._in_flight: dict[str, Delivery] = {}
        self._buffer: list[Any] = []  # entries read for this reader, not handed out yet
        self._fed = asyncio.Event()
        self._more = False  # the last read was full
        self._error: BaseException | None = None
        self._closed = False
        # Re-reading our pending entries after this id (None: not), up to this one (None: all
        # of them; then the member reader leaves the key alone).
        self._pending_from: str | None = "0-0"
        self._pending_to: tuple[int, int] | None = None
        self._handed: bytes = b"0-0"  # the greatest entry id handed out

    async def start(self) -> None:
        try:
            await self._member_reader.quiesce(self.key)
            await create_group(self._redis, self._key, self._group)
            # Take every entry a previous reader left unacknowledged; they are read first.
            start = "0-0"
            for _ in range(100_000):
                reply = await self._redis.xautoclaim(
                    self._key, self._group, self._name, 0, start, count=1000
                )
                start = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
                if start == "0-0":
                    break
        except ERRORS as exc:
            raise BrokerUnavailable(
                f"cannot open group {self._group} on {self._key}: {exc!r}"
            ) from exc
        self._member_reader.register(self)

    def want(self) -> int:
        """How many entries the member reader may read for this partition now (0: none)."""
        if (
            self._buffer
            or self._closed
            or self._error is not None
            or (self._pending_from is not None and self._pending_to is None)
        ):
            return 0
        return min(self._max_in_flight - len(self._in_flight), self._chunk)

    @property
    def backlogged(self) -> bool:
        """Its last read was full (more is probably waiting) and it has no room now."""
        return self._more and self.want() == 0

    def feed(self, entries: list[Any], full: bool) -> None:
        self._buffer.extend(entries)
        self._more = full
        self._fed.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._fed.set()

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        room = min(max_messages, self._max_in_flight - len(self._in_flight))
        if room <= 0:
            return []
        self._raise_error()
        if self._pending_from is not None:
            try:
                out = await self._read_pending(room)
            except redis.exceptions.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await create_group(self._redis, self._key, self._group)
                return []
            except ERRORS as exc:
                raise BrokerUnavailable(f"XREADGROUP on {self._key} failed: {exc!r}") from exc
            if out:
                return out
            self._pending_from = self._pending_to = None
        buffer = self._buffer
        if not buffer:
            self._fed.clear()
            self._member_reader.wake(self.key)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._fed.wait()
            self._raise_error()
            if not buffer:
                return []
        entries = buffer[:room]
        del buffer[:room]
        self._handed = entries[-1][0]
        if not buffer:
            self._member_reader.wake(self.key)
        return await self._deliveries(entries, {})

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise BrokerUnavailable(f"XREADGROUP on {self._key} failed: {error!r}") from error

    async def _read_pending(self, room: int) -> list[Delivery]:
        """Our pending entries after ``_pending_from`` (up to ``_pending_to``) that are not
        in flight; ``[]`` once there are none left."""
        upto = self._pending_to
        while True:
            assert self._pending_from is not None
            reply = await self._reader.execute_command(
                "XREADGROUP",
                "GROUP",
                self._group,
                self._name,
                "COUNT",
                room,
                "STREAMS",
                self._key,
                self._pending_from,
            )
            if not reply:
                return []
            read = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
            if not read:
                return []
            self._pending_from = read[-1][0].decode()
            entries = [
                e
                for e in read
                if (upto is None or _id(e[0]) <= upto) and e[0].decode() not in self._in_flight
            ]
            if entries:
                break
            if len(read) < room or (upto is not None and _id(read[-1][0]) >= upto):
                return []
        if upto is None:
            self._handed = entries[-1][0]
        details = await self._redis.xpending_range(
            self._key,
            self._group,
            min=entries[0][0],
            max=entries[-1][0],
            count=len(entries) * 2,
            consumername=self._name,
        )
        counts: dict[str, int] = {}
        for detail in details:
            entry_id = detail["message_id"]
            entry_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            counts[entry_id] = int(detail["times_delivered"])
        return await self._deliveries(entries, counts)

    async def _deliveries(self, entries: list[Any], counts: dict[str, int]) -> list[Delivery]:
        out = []
        gone = []
        partition = self.partition
        in_flight = self._in_flight
        for raw_id, fields in entries:
            entry_id = raw_id.decode()
            if fields and len(fields) == 4 and fields[2] == EVENT_FIELD:
                data, fast = fields[1], fields[3]  # the relay's entries: __data__, fs-event
            else:
                named = dict(zip(fields[::2], fields[1::2], strict=True)) if fields else {}
                data, fast = named.get(DATA_FIELD), named.get(EVENT_FIELD)
            if data is None:
                gone.append(raw_id)  # trimmed or deleted while pending
                continue
            event = None
            if fast is not None:
                try:
                    body = envelope_body(data)
                    read = read_event_field(fast, body)
                    msg_id, event = read.msg_id, read.event
                except ValueError:
                    event = None
            if event is not None:
                headers: Mapping[str, str] = EnvelopeHeaders(data)
            else:
                # Written without fs-event (older relays, replays): the headers say it all.
                try:
                    headers, body = decode_envelope(data)
                except ValueError:
                    headers, body = {}, data
                msg_id = headers.get("fs-msg-id") or headers.get("message_id", "")
            delivery = Delivery(
                partition, msg_id, headers, body, counts.get(entry_id, 1), entry_id, raw_id, event
            )
            in_flight[entry_id] = delivery
            out.append(delivery)
        if gone:
            await self._member_reader.ack(self.key, gone)
        return out

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries or self._closed:
            return  # closed: the partition may be another member's now
        in_flight = self._in_flight
        for delivery in deliveries:
            in_flight.pop(delivery.broker_id, None)
        # The entry ids as read (bytes).
        ids = [d.raw or d.broker_id.encode() for d in deliveries]
        await self._member_reader.ack(self.key, ids)

    async def nak(self, deliveries: Sequence[Delivery]) -> None:
        ids = [d.broker_id for d in deliveries if d.broker_id in self._in_flight]
        if not ids:
            return
        for entry_id in ids:
            self._in_flight.pop(entry_id)
        start = _before(min(ids, key=_id))
        handed = _id(self._handed)
        if self._pending_from is None:
            # Read again up to what was handed out; what is buffered comes after it.
            self._pending_from, self._pending_to = start, handed
            return
        if _id(start) < _id(self._pending_from):
            self._pending_from = start
        if self._pending_to is not None:  # None: all our pending entries are read again
            self._pending_to = max(self._pending_to, handed)

    async def lag(self) -> int:
        try:
            groups = await self._redis.xinfo_groups(self._key)
        except ERRORS as exc:
            raise BrokerUnavailable(f"XINFO GROUPS on {self._key} failed: {exc!r}") from exc
        for info in groups:
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            if name == self._group:
                return int(info.get("lag") or 0) + int(info.get("pending") or 0)
        return 0

    async def close(self) -> None:
        # Unacknowledged and buffered entries stay pending; the next reader claims them
        # (XAUTOCLAIM) once this returns: no read of ours is under way by then.
        self._closed = True
        self._in_flight.clear()
        self._buffer.clear()
        self._fed.set()
        await self._member_reader.unregister(self)
