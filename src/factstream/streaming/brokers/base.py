"""The broker port: what the relay publishes to and consumer groups read from.

A broker holds ``partitions`` ordered logs. The relay publishes each event to its stream's
partition; a consumer group reads each partition through one :class:`PartitionConsumer` at a
time (the group's leases make sure of that), acknowledging messages explicitly.

Adding a backend (Kafka: a topic with P partitions, the event id as a header, consumer-group
offsets as acks) means implementing :class:`Broker` and :class:`PartitionConsumer` and running
:class:`factstream.testing.contracts.BrokerContract` against it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec

from ...events import FactstreamError

if TYPE_CHECKING:
    from ...events import RecordedEvent

__all__ = [
    "Broker",
    "BrokerUnavailable",
    "DeadLetter",
    "Delivery",
    "OutboundMessage",
    "PartitionConsumer",
]


class BrokerUnavailable(FactstreamError):
    """The broker could not be reached, or did not acknowledge in time."""


class OutboundMessage(msgspec.Struct, frozen=True):
    """A message to publish (a msgspec struct: made for every event, it is built in C).

    Attributes:
        partition: the partition (``0 <= partition < broker.partitions``).
        category: the stream's category (a subject token on NATS).
        key: the stream id: messages with one key stay in order.
        msg_id: the dedupe id (the event id; a suffixed id for replays).
        headers: string headers (the CloudEvents attributes).
        body: the payload.
        event: the event the headers and body describe, when the message is one (the
            relay's): an adapter may also store it in a form of its own that its consumers
            read faster (Redis: the ``fs-event`` field, see ``brokers/redis_wire.py``).
    """

    partition: int
    category: str
    key: str
    msg_id: str
    headers: Mapping[str, str]
    body: bytes
    event: RecordedEvent | None = None


class Delivery(msgspec.Struct, frozen=True):
    """A message received by a :class:`PartitionConsumer`; ack or nak it through that consumer
    (a msgspec struct: made for every message, it is built in C).

    Attributes:
        partition: the partition it came from.
        msg_id: the dedupe id it was published with.
        headers: its headers.
        body: its payload.
        delivery_count: how many times the broker delivered it (1 the first time).
        broker_id: the broker's id of the message (stream sequence, entry id).
        raw: the adapter's own handle of the message.
        event: the event, when the adapter read it from a form of its own; ``None``: the
            consumer group rebuilds it from the CloudEvents headers and the body.
    """

    partition: int
    msg_id: str
    headers: Mapping[str, str]
    body: bytes
    delivery_count: int
    broker_id: str
    raw: Any = None
    event: RecordedEvent | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message a consumer group gave up on.

    Attributes:
        id: the broker's id of the dead letter (use it to delete one).
        group: the consumer group that failed.
        partition: the partition the message came from.
        msg_id: its dedupe id.
        headers: the original headers.
        body: the original payload.
        error: what the handler raised (``repr`` of the exception), or why it was parked.
        delivery_count: attempts made before giving up.
        failed_at: when it was dead-lettered.
    """

    id: str
    group: str
    partition: int
    msg_id: str
    headers: Mapping[str, str]
    body: bytes
    error: str
    delivery_count: int
    failed_at: dt.datetime


@runtime_checkable
class PartitionConsumer(Protocol):
    """One consumer group's reader of one partition: explicit acks, bounded in-flight."""

    partition: int

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        """Up to ``max_messages`` messages, waiting up to ``timeout`` s for the first; ``[]``
        when none came. Unacknowledged messages never exceed the consumer's ``max_in_flight``.
        Messages come in partition order; after a nak or a takeover, unacknowledged messages
        come again first, in order."""
        ...

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Mark messages processed: they are not delivered to this group again. On return the
        broker has recorded the acks."""
        ...

    async def nak(self, deliveries: Sequence[Delivery]) -> None:
        """Give messages back: they are delivered again, before later ones."""
        ...

    async def lag(self) -> int:
        """Messages of the partition this group has not acknowledged yet."""
        ...

    async def close(self) -> None:
        """Stop reading; unacknowledged messages are delivered again to the next reader."""
        ...


@runtime_checkable
class Broker(Protocol):
    """A partitioned message log with consumer groups (the streaming port).

    Attributes:
        partitions: the number of partitions.
        deduplicates: whether the broker drops a message whose ``msg_id`` it has seen recently
            (JetStream does; Redis Streams and the memory broker do not: consumers dedupe).
        name: a short name for logs and metrics (``nats``, ``redis``, ``memory``).
    """

    partitions: int
    deduplicates: bool
    name: str

    async def setup(self) -> bool:
        """Create what the broker needs (streams, keys); idempotent.

        Returns:
            ``True`` when the broker held none of this prefix's data before (new or wiped, e.g.
            a Redis restart without persistence): the relay republishes from the start then.
        """
        ...

    async def publish(self, message: OutboundMessage) -> asyncio.Future[Any]:
        """Send ``message``; return a future resolved when the broker acknowledged it
        (messages acknowledged together may share one: Redis's batches do, so cancelling it
        gives the whole batch up, as :meth:`cancel_pending` does).

        Waits while the broker's bound of unacknowledged publishes is reached (backpressure).
        Messages of one publisher are stored in the order published.

        Raises:
            BrokerUnavailable: the broker cannot be reached (the future may fail with it too).
        """
        ...

    def cancel_pending(self) -> None:
        """Give up on every publish not acknowledged yet (their futures are cancelled) and
        accept publishes again: after a failure the relay resends from its checkpoint."""
        ...

    async def consumer(
        self, group: str, partition: int, *, max_in_flight: int, member: str
    ) -> PartitionConsumer:
        """Open ``group``'s reader of ``partition`` (created on first use, from the start)."""
        ...

    async def dead_letter(
        self, group: str, delivery: Delivery, error: str, delivery_count: int
    ) -> None:
        """Store ``delivery`` as a dead letter of ``group`` with its error and attempt count."""
        ...

    async def dead_letters(self, group: str, limit: int = 1000) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters of ``group``, oldest first."""
        ...

    async def delete_dead_letter(self, group: str, letter_id: str) -> None:
        """Remove one dead letter (after replaying or skipping it)."""
        ...

    async def destroy(self) -> None:
        """Delete everything under this broker's prefix (tests, teardown)."""
        ...

    async def close(self) -> None:
        """Wait for pending publishes (briefly) and disconnect."""
        ...


def dead_letter_fields(
    group: str, delivery: Delivery, error: str, delivery_count: int
) -> dict[str, str]:
    """The headers a dead letter carries on top of the original message's."""
    return {
        **delivery.headers,
        "fs-dlq-group": group,
        "fs-dlq-partition": str(delivery.partition),
        "fs-dlq-msg-id": delivery.msg_id,
        "fs-dlq-error": error[:2000],
        "fs-dlq-delivery-count": str(delivery_count),
        "fs-dlq-failed-at": dt.datetime.now(dt.UTC).isoformat(),
    }


_DLQ_PREFIX = "fs-dlq-"


def letter_from_fields(letter_id: str, headers: Mapping[str, str], body: bytes) -> DeadLetter:
    """The :class:`DeadLetter` stored with :func:`dead_letter_fields` headers."""
    original = {k: v for k, v in headers.items() if not k.startswith(_DLQ_PREFIX)}
    return DeadLetter(
        id=letter_id,
        group=headers.get("fs-dlq-group", ""),
        partition=int(headers.get("fs-dlq-partition", "0")),
        msg_id=headers.get("fs-dlq-msg-id", ""),
        headers=original,
        body=body,
        error=headers.get("fs-dlq-error", ""),
        delivery_count=int(headers.get("fs-dlq-delivery-count", "0")),
        failed_at=dt.datetime.fromisoformat(
            headers.get("fs-dlq-failed-at", "1970-01-01T00:00:00+00:00")
        ),
    )
