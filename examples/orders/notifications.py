"""The notifications service: a plain FastStream app, written as a team without factstream would.

It imports nothing from factstream. It reads what the orders system's relay publishes (JSON
bodies with CloudEvents headers, see docs/streaming.md) and tells the customer when an order is
confirmed and when it ships:

- on NATS JetStream, one durable pull consumer per partition, ``notifications-p<N>`` on
  stream ``FACTSTREAM`` with the filter ``factstream.p<N>.order.>`` (the ``order``
  category);
- on Redis Streams, one consumer group ``notifications`` per partition key
  (``factstream:p0`` ... ``factstream:p<P-1>``), FastStream's envelope.

Delivery is at least once (a redelivery after a crash, a second instance catching up): each
notification is recorded under the message id (``message_id`` = the event id) with
``INSERT OR IGNORE``, so it is recorded, and sent, once. Run it::

    python -m examples.orders.notifications --broker nats://127.0.0.1:4222 --db notes.db
    python -m examples.orders.notifications --broker redis://127.0.0.1:6379/0 --partitions 8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from faststream.redis import RedisBroker, RedisStreamMessage, StreamSub
from nats.js.api import DeliverPolicy

__all__ = [
    "Notification",
    "NotificationLog",
    "notification_text",
    "notifications_service",
]

#: The event types this service reacts to (``ce-type``), and what the customer is told.
TEMPLATES = {
    "OrderConfirmed": "Your order {order_id} is confirmed: {total} in all.",
    "OrderShipped": "Your order {order_id} is on its way.",
}


@dataclass(frozen=True, slots=True)
class Notification:
    message_id: str
    order_id: str
    kind: str
    text: str


def notification_text(event_type: str, body: dict[str, Any]) -> str | None:
    """What to tell the customer about this event, or ``None`` when nothing.

    Raises:
        ValueError: an event this service handles without an ``order_id``.
    """
    template = TEMPLATES.get(event_type)
    if template is None:
        return None
    order_id = body.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        raise ValueError(f"{event_type} without an order_id: {body!r}")
    return template.format(order_id=order_id, total=body.get("total", "?"))


class NotificationLog:
    """Notifications kept in SQLite, one per message id (a redelivery records nothing).

    Attributes:
        duplicates: messages whose notification was recorded before (redeliveries).
    """

    def __init__(self, path: str = ":memory:") -> None:
        self.duplicates = 0
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS notifications (message_id TEXT PRIMARY KEY, "
            "order_id TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL, "
            "recorded_at REAL NOT NULL)"
        )

    def record(self, message_id: str, event_type: str, body: dict[str, Any]) -> bool:
        """Record the notification of one message; ``False`` if it had no notification or
        was recorded before.

        Raises:
            ValueError: no message id (nothing to deduplicate by), or a malformed event.
        """
        if not message_id:
            raise ValueError("a message without a message id cannot be recorded once")
        text = notification_text(event_type, body)
        if text is None:
            return False
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO notifications VALUES (?, ?, ?, ?, ?)",
            (message_id, body["order_id"], event_type, text, time.time()),
        )
        if cursor.rowcount == 1:
            return True
        self.duplicates += 1
        return False

    def all(self) -> list[Notification]:
        rows = self._db.execute(
            "SELECT message_id, order_id, kind, text FROM notifications ORDER BY rowid"
        )
        return [Notification(*row) for row in rows]

    def close(self) -> None:
        self._db.close()


def _body(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    raise ValueError(f"expected a JSON object, got {type(raw).__name__}")


def notifications_service(
    log: NotificationLog,
    url: str = "nats://127.0.0.1:4222",
    *,
    prefix: str = "factstream",
    partitions: int = 8,
    name: str = "notifications",
) -> NatsBroker | RedisBroker:
    """The FastStream broker (NATS or Redis, by ``url``) with the notifications subscribers,
    one per partition; ``name`` names the durable consumers / consumer groups.

    Raises:
        ValueError: ``url`` is neither ``nats://`` nor ``redis://`` / ``rediss://``.
    """
    if url.startswith(("nats://", "tls://")):
        return _on_nats(log, url, prefix, partitions, name)
    if url.startswith(("redis://", "rediss://")):
        return _on_redis(log, url, prefix, partitions, name)
    raise ValueError(f"--broker must be a nats:// or redis:// URL, not {url!r}")


def _on_nats(log: NotificationLog, url: str, prefix: str, partitions: int, name: str) -> NatsBroker:
    # nats-server 2.9 wants a consumer's filter inside one of the stream's subjects
    # (factstream.p3.>): factstream.*.order.> across partitions is refused, so one durable
    # consumer per partition (notifications-p3) it is.
    broker = NatsBroker(url, logger=None)

    async def on_order_event(body: Any, msg: NatsMessage) -> None:
        log.record(msg.message_id, msg.headers.get("ce-type", ""), _body(body))

    for partition in range(partitions):
        broker.subscriber(
            f"{prefix}.p{partition}.order.>",
            stream=JStream(prefix.upper(), declare=False),
            durable=f"{name}-p{partition}",
            deliver_policy=DeliverPolicy.ALL,
            pull_sub=PullSub(batch_size=64, timeout=1.0),
        )(on_order_event)
    return broker


def _on_redis(
    log: NotificationLog, url: str, prefix: str, partitions: int, name: str
) -> RedisBroker:
    broker = RedisBroker(url, logger=None)  # type: ignore[arg-type]

    async def on_order_event(body: Any, msg: RedisStreamMessage) -> None:
        # Every category shares the partition streams: record() ignores other types.
        log.record(msg.message_id, msg.headers.get("ce-type", ""), _body(body))

    for partition in range(partitions):
        stream = StreamSub(f"{prefix}:p{partition}", group=name, consumer=f"{name}-1", last_id="0")
        broker.subscriber(stream=stream)(on_order_event)
    return broker


async def serve(broker_url: str, db: str, prefix: str, partitions: int) -> None:
    log = NotificationLog(db)
    app = notifications_service(log, broker_url, prefix=prefix, partitions=partitions)
    await app.start()
    try:
        seen = 0
        while True:
            await asyncio.sleep(1.0)
            notes = log.all()
            for note in notes[seen:]:
                print(json.dumps({"order": note.order_id, "text": note.text}), flush=True)
            seen = len(notes)
    finally:
        with contextlib.suppress(Exception):
            await app.stop()
        log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--broker", default="nats://127.0.0.1:4222")
    parser.add_argument("--db", default="notifications.db")
    parser.add_argument("--prefix", default="factstream")
    parser.add_argument("--partitions", type=int, default=8, help="the relay's partitions")
    args = parser.parse_args(argv)
    if not args.broker.startswith(("nats://", "tls://", "redis://", "rediss://")):
        parser.error("--broker must be a nats:// or redis:// URL")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.broker, args.db, args.prefix, args.partitions))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
