"""The NATS JetStream adapter (extra ``nats``: nats-py).

Layout for ``prefix="factstream"`` and P partitions:

- stream ``FACTSTREAM`` with subjects ``factstream.p0.>`` ... ``factstream.p<P-1>.>``; an event
  of stream ``order-42`` in partition 3 goes to ``factstream.p3.order.order-42`` (category and
  stream id as subject tokens, see :func:`~factstream.streaming.partitioning.subject_token`);
- ``Nats-Msg-Id`` = the event id, so JetStream drops a re-publish within its duplicate window;
- group ``billing`` reads partition 3 through the durable pull consumer ``billing-p3``
  (filter ``factstream.p3.>``, explicit acks, ``max_ack_pending`` = the bound of in-flight
  messages); one filter subject per consumer works on nats-server 2.9;
- dead letters of group ``billing`` go to ``factstream.dlq.billing`` in stream
  ``FACTSTREAM_DLQ``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    StorageType,
    StreamConfig,
)

from ..partitioning import subject_token
from .base import (
    BrokerUnavailable,
    DeadLetter,
    Delivery,
    OutboundMessage,
    dead_letter_fields,
    letter_from_fields,
)
from .nats_wire import AckedPublisher, FastHeadersClient, Puller, ack_all, wire_supported

__all__ = ["NatsBroker"]

_log = logging.getLogger("factstream.streaming.nats")
_ERRORS = (nats.errors.Error, OSError, asyncio.TimeoutError)
_NAME = re.compile(r"[^A-Za-z0-9_-]")
_PREFIX = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


def _name(text: str) -> str:
    return _NAME.sub("_", text)


class NatsBroker:
    """JetStream as a partitioned log. Open it with :meth:`open`."""

    name = "nats"
    deduplicates = True

    def __init__(
        self,
        client: Client,
        *,
        prefix: str = "factstream",
        partitions: int = 8,
        max_pending: int = 1024,
        replicas: int = 1,
        duplicate_window: float = 120.0,
        ack_wait: float = 30.0,
        api_timeout: float = 5.0,
    ) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        if not _PREFIX.fullmatch(prefix):
            # Subjects are written to the wire as they are: no spaces, wildcards or empty tokens.
            raise ValueError(
                f"prefix must be dot-separated tokens of A-Z a-z 0-9 _ -, got {prefix!r}"
            )
        self._nc = client
        if not wire_supported(client):
            raise TypeError(
                "this nats-py client lacks Client._send_command/_flush_pending, which the "
                "adapter writes through; use nats-py 2.x"
            )
        self._js: JetStreamContext = client.jetstream(timeout=api_timeout)
        self._api_prefix: str = getattr(self._js, "_prefix", "$JS.API")
        self._wire = AckedPublisher(client, max_pending, ack_wait)
        self.prefix = prefix
        self.partitions = partitions
        self.stream = _name(prefix).upper()
        self.dlq_stream = f"{self.stream}_DLQ"
        self.replicas = replicas
        self.duplicate_window = duplicate_window
        self.ack_wait = ack_wait
        self.api_timeout = api_timeout

    @classmethod
    async def open(
        cls, servers: str | Sequence[str] = "nats://127.0.0.1:4222", **options: Any
    ) -> NatsBroker:
        """Connect to ``servers`` (a URL, comma-separated URLs, or a list) and return a broker.

        Keyword options are those of :class:`NatsBroker` (``prefix``, ``partitions``,
        ``max_pending``, ``replicas``, ``duplicate_window``, ``ack_wait``, ``api_timeout``).
        The client reconnects forever; calls fail with :class:`BrokerUnavailable` meanwhile.
        """
        urls = servers.split(",") if isinstance(servers, str) else list(servers)

        async def quiet(exc: Exception) -> None:
            _log.debug("nats client: %r", exc)

        try:
            client = FastHeadersClient()
            settings: dict[str, Any] = {
                "max_reconnect_attempts": -1,
                "reconnect_time_wait": 0.25,
                "connect_timeout": 2,
                "allow_reconnect": True,
                "error_cb": quiet,
            }
            await client.connect(urls, **settings)
        except _ERRORS as exc:
            raise BrokerUnavailable(f"cannot connect to NATS at {urls}: {exc!r}") from exc
        return cls(client, **options)

    def subject(self, message: OutboundMessage) -> str:
        return (
            f"{self.prefix}.p{message.partition}."
            f"{subject_token(message.category)}.{subject_token(message.key)}"
        )

    def partition_filter(self, partition: int) -> str:
        return f"{self.prefix}.p{partition}.>"

    def dead_letter_subject(self, group: str) -> str:
        return f"{self.prefix}.dlq.{subject_token(group)}"

    # -- setup ------------------------------------------------------------------------------

    async def setup(self) -> bool:
        subjects = [self.partition_filter(p) for p in range(self.partitions)]
        try:
            fresh = await self._ensure_stream(self.stream, subjects, self.duplicate_window)
            await self._ensure_stream(self.dlq_stream, [f"{self.prefix}.dlq.>"], 0)
        except _ERRORS as exc:
            raise BrokerUnavailable(f"JetStream setup failed: {exc!r}") from exc
        return fresh

    async def _ensure_stream(self, name: str, subjects: list[str], window: float) -> bool:
        config = StreamConfig(
            name=name,
            subjects=subjects,
            storage=StorageType.FILE,
            num_replicas=self.replicas,
            duplicate_window=window,
        )
        try:
            info = await self._js.stream_info(name)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(config)
            return True
        if sorted(info.config.subjects or []) != sorted(subjects):
            await self._js.update_stream(config)
        return info.state.last_seq == 0

    # -- publishing -------------------------------------------------------------------------

    async def publish(self, message: OutboundMessage) -> asyncio.Future[Any]:
        try:
            return await self._wire.publish(
                self.subject(message), message.msg_id, message.headers, message.body
            )
        except _ERRORS as exc:
            raise BrokerUnavailable(f"JetStream publish failed: {exc!r}") from exc

    def cancel_pending(self) -> None:
        """Give up on unacknowledged publishes (the relay resends from its checkpoint).

        Nothing times these out by itself, so after a disconnect they would hold the bound of
        pending publishes forever.
        """
        self._wire.cancel_pending()

    # -- consuming --------------------------------------------------------------------------

    async def consumer(
        self, group: str, partition: int, *, max_in_flight: int, member: str
    ) -> _NatsConsumer:
        durable = f"{_name(group)}-p{partition}"
        try:
            await self._take_over(durable, partition, max_in_flight)
            puller = Puller(self._nc, self.stream, durable, self._api_prefix)
            await puller.start()
        except _ERRORS as exc:
            raise BrokerUnavailable(f"cannot open consumer {durable}: {exc!r}") from exc
        return _NatsConsumer(self, puller, durable, partition, max_in_flight)

    async def _take_over(self, durable: str, partition: int, max_in_flight: int) -> None:
        """Make ``durable`` deliver every unacknowledged message again, in order, now.

        JetStream redelivers a dead reader's messages only after ``ack_wait``, behind newer
        ones. The caller holds the partition's lease, so recreating the consumer at its ack
        floor is safe, and gives the new reader the partition in order from the first
        unacknowledged message.
        """
        config = ConsumerConfig(
            durable_name=durable,
            filter_subject=self.partition_filter(partition),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=max_in_flight,
            ack_wait=self.ack_wait,
            max_deliver=-1,
            num_replicas=self.replicas,
        )
        try:
            info = await self._js.consumer_info(self.stream, durable)
        except nats.js.errors.NotFoundError:
            await self._js.add_consumer(self.stream, config)
            return
        if info.num_ack_pending == 0 and info.config.max_ack_pending == max_in_flight:
            return
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        await self._js.delete_consumer(self.stream, durable)
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = (floor or 0) + 1
        await self._js.add_consumer(self.stream, config)

    # -- dead letters -----------------------------------------------------------------------

    async def dead_letter(
        self, group: str, delivery: Delivery, error: str, delivery_count: int
    ) -> None:
        headers = dead_letter_fields(group, delivery, error, delivery_count)
        headers.pop("Nats-Msg-Id", None)
        try:
            await self._js.publish(self.dead_letter_subject(group), delivery.body, headers=headers)
        except _ERRORS as exc:
            raise BrokerUnavailable(f"cannot store a dead letter: {exc!r}") from exc

    async def dead_letters(self, group: str, limit: int = 1000) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        try:
            subscription = await self._js.pull_subscribe(
                self.dead_letter_subject(group),
                stream=self.dlq_stream,
                config=ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=30.0),
            )
        except _ERRORS as exc:
            raise BrokerUnavailable(f"cannot read dead letters: {exc!r}") from exc
        try:
            while len(letters) < limit:
                try:
                    batch = await subscription.fetch(min(100, limit - len(letters)), timeout=1.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                remaining = 0
                for msg in batch:
                    meta = msg.metadata
                    letters.append(
                        letter_from_fields(str(meta.sequence.stream), msg.headers or {}, msg.data)
                    )
                    remaining = meta.num_pending
                if remaining == 0:
                    break
        finally:
            with contextlib.suppress(*_ERRORS):
                await subscription.unsubscribe()
        return letters[:limit]

    async def delete_dead_letter(self, group: str, letter_id: str) -> None:
        try:
            await self._js.delete_msg(self.dlq_stream, int(letter_id))
        except nats.js.errors.NotFoundError:
            return
        except _ERRORS as exc:
            raise BrokerUnavailable(f"cannot delete a dead letter: {exc!r}") from exc

    async def destroy(self) -> None:
        for stream in (self.stream, self.dlq_stream):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await self._js.delete_stream(stream)

    async def close(self) -> None:
        unacknowledged = self._wire.futures()
        if unacknowledged:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(2.0):
                    await asyncio.gather(*unacknowledged, return_exceptions=True)
        self.cancel_pending()
        with contextlib.suppress(*_ERRORS):
            await self._nc.close()


class _NatsConsumer:
    def __init__(
        self,
        broker: NatsBroker,
        puller: Puller,
        durable: str,
        partition: int,
        max_in_flight: int,
    ) -> None:
        self._broker = broker
        self._puller = puller
        self._durable = durable
        self.partition = partition
        self._max_in_flight = max_in_flight
        self._in_flight: dict[int, Msg] = {}

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        room = min(max_messages, self._max_in_flight - len(self._in_flight))
        if room <= 0:
            return []
        try:
            msgs = await self._puller.fetch(room, timeout)
        except _ERRORS as exc:
            raise BrokerUnavailable(f"fetch from {self._durable} failed: {exc!r}") from exc
        out = []
        partition = self.partition
        for msg in msgs:
            meta = msg.metadata
            sequence = meta.sequence.stream
            self._in_flight[sequence] = msg
            headers = msg.headers or {}
            out.append(
                Delivery(
                    partition,
                    headers.get("Nats-Msg-Id", ""),
                    headers,
                    msg.data,
                    meta.num_delivered,
                    str(sequence),
                    msg,
                )
            )
        return out

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        try:
            replies = []
            for delivery in deliveries:
                self._in_flight.pop(int(delivery.broker_id), None)
                replies.append(delivery.raw.reply)
            await ack_all(self._broker._nc, replies, self._broker.api_timeout)
        except _ERRORS as exc:
            raise BrokerUnavailable(f"ack to {self._durable} failed: {exc!r}") from exc

    async def nak(self, deliveries: Sequence[Delivery]) -> None:
        try:
            for delivery in deliveries:
                msg: Msg = delivery.raw
                if self._in_flight.pop(msg.metadata.sequence.stream, None) is not None:
                    await msg.nak()
        except _ERRORS as exc:
            raise BrokerUnavailable(f"nak to {self._durable} failed: {exc!r}") from exc

    async def lag(self) -> int:
        try:
            info = await self._broker._js.consumer_info(self._broker.stream, self._durable)
        except _ERRORS as exc:
            raise BrokerUnavailable(f"consumer info of {self._durable} failed: {exc!r}") from exc
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def close(self) -> None:
        pending = sorted(self._in_flight.items())
        self._in_flight.clear()
        with contextlib.suppress(*_ERRORS, nats.errors.MsgAlreadyAckdError):
            for _, msg in pending:
                await msg.nak()
        with contextlib.suppress(*_ERRORS):
            await self._puller.close()
