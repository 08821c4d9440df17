"""The relay: the events table is the outbox. It publishes the global log to a broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from ..events import RecordedEvent, StoreClosed
from ..observability.tracing import is_live
from ..store.base import EventStore
from .brokers.base import Broker, BrokerUnavailable, OutboundMessage
from .cloudevents import event_headers
from .leases import LeaseKeeper, LeaseLost
from .partitioning import category_of, partition_of
from .state.base import StreamingState

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["Relay", "RelaySettings", "RelayStatus", "message_for"]

_log = logging.getLogger("factstream.streaming.relay")
_encode = msgspec.json.encode
_Pending = deque[tuple[int, "asyncio.Future[Any]"]]


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """How a relay runs.

    Attributes:
        name: names the checkpoint (``relay:<name>``) and the lease (``relay:<name>``): give
            each (store, broker) pair its own name; relays sharing a name are one active and
            the others standby.
        source: the CloudEvents ``source`` attribute of every message.
        lease_ttl: seconds a dead relay's lease lasts before a standby takes over.
        ack_timeout: seconds the oldest unacknowledged publish may wait before the relay
            treats the broker as unavailable and starts again from its checkpoint.
        max_in_flight: publishes awaiting acknowledgement (on top of the broker's own bound).
        checkpoint_every: save the checkpoint after this many acknowledged events ...
        checkpoint_interval: ... or this many seconds, whichever comes first.
        backoff_initial: the first wait after a failure, doubled after each further failure ...
        backoff_max: ... up to this.
        skip_types: event types that are not published (their positions still count as
            relayed). By default the repository's snapshots (``factstream.snapshot``), which
            are internal state, not facts for other services.
    """

    name: str = "default"
    source: str = "factstream"
    lease_ttl: float = 10.0
    ack_timeout: float = 10.0
    max_in_flight: int = 4096
    checkpoint_every: int = 2000
    checkpoint_interval: float = 0.25
    backoff_initial: float = 0.1
    backoff_max: float = 5.0
    skip_types: frozenset[str] = frozenset({"factstream.snapshot"})


@dataclass(slots=True)
class RelayStatus:
    """What a relay is doing (read it for health checks and metrics).

    Attributes:
        active: holds the lease and publishes (``False``: standby or stopped).
        acked_position: the last position the broker acknowledged, with everything before it.
        checkpoint: the last position saved.
        published: messages published by this relay object (resends included).
        failures: broker or store failures survived.
        last_error: the last failure, as text.
    """

    active: bool = False
    acked_position: int = 0
    checkpoint: int = 0
    published: int = 0
    failures: int = 0
    last_error: str | None = None


def message_for(event: RecordedEvent, partitions: int, source: str) -> OutboundMessage:
    """The broker message of ``event``: partition by stream id, CloudEvents headers, JSON body."""
    stream_id = event.stream_id
    headers = event_headers(event, source)
    return OutboundMessage(
        partition_of(stream_id, partitions),
        category_of(stream_id),
        stream_id,
        headers["ce-id"],
        headers,
        _encode(event.data),
        event,
    )


def first_error(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (what a task group raised), or ``exc``."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


class Relay:
    """Publishes the store's global log to a broker, in log order, from a checkpoint.

    Run it as a task: ``task = asyncio.create_task(relay.run())``; cancel the task to stop.
    Several relays with the same settings name may run (in several processes): one holds the
    lease and publishes, the others wait and take over when it dies.

    Guarantees: every event is published at least once, in log order per partition, and the
    checkpoint only moves past events the broker acknowledged; after any failure the relay
    resends from the first unacknowledged event (JetStream drops the duplicates by
    ``Nats-Msg-Id``; consumers skip versions they applied).

    With a ``tracer_provider`` (extra ``otel``) each publish opens a ``publish factstream``
    producer span continuing the event's trace, for events committed in the last minute (see
    :func:`~factstream.observability.tracing.publish_span`): republishing an old log opens no
    spans. Without a provider, OpenTelemetry is not imported.
    """

    def __init__(
        self,
        store: EventStore,
        broker: Broker,
        state: StreamingState,
        settings: RelaySettings | None = None,
        *,
        owner: str | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.store = store
        self.tracer_provider = tracer_provider
        self.broker = broker
        self.state = state
        self.settings = settings or RelaySettings()
        self.owner = owner or f"relay-{uuid.uuid4().hex[:12]}"
        self.status = RelayStatus()
        self._key = f"relay:{self.settings.name}"
        self._lease = LeaseKeeper(state, self._key, self.owner, self.settings.lease_ttl)
        self._progress = asyncio.Event()

    async def run(self) -> None:
        """Publish while holding the lease, wait as standby otherwise; until cancelled."""
        settings = self.settings
        try:
            while True:
                try:
                    acquired = await self._lease.acquire()
                except Exception as exc:
                    self._failed(exc)
                    acquired = False
                if not acquired:
                    await asyncio.sleep(settings.lease_ttl / 3)
                    continue
                self.status.active = True
                _log.info("relay %s (%s) is active", settings.name, self.owner)
                try:
                    async with asyncio.TaskGroup() as tasks:
                        tasks.create_task(self._lease.keep())
                        tasks.create_task(self._publish_with_retries())
                except* LeaseLost as lost:
                    _log.warning("relay %s lost its lease: %s", self.owner, lost.exceptions[0])
                finally:
                    self.status.active = False
        finally:
            await asyncio.shield(self._lease.release())

    async def wait_for(self, position: int, timeout: float) -> None:
        """Return once everything up to ``position`` is acknowledged by the broker.

        Raises:
            TimeoutError: not within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while self.status.acked_position < position:
                self._progress.clear()
                await self._progress.wait()

    def _failed(self, exc: BaseException) -> None:
        self.status.failures += 1
        self.status.last_error = repr(exc)
        _log.warning("relay %s: %r; starting again from the checkpoint", self.owner, exc)

    async def _publish_with_retries(self) -> None:
        delay = self.settings.backoff_initial
        while True:
            published_before = self.status.published
            try:
                await self._publish_from_checkpoint()
            except Exception as exc:  # broker, store, anything: start again from the checkpoint
                error = first_error(exc)
                if isinstance(error, StoreClosed):
                    raise error from None
                self._failed(error)
            self.broker.cancel_pending()
            if self.status.published > published_before + 1:
                delay = self.settings.backoff_initial
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.backoff_max)

    async def _publish_from_checkpoint(self) -> None:
        state, broker, status = self.state, self.broker, self.status
        checkpoint = await state.load_checkpoint(self._key)
        if await broker.setup() and checkpoint > 0:
            _log.warning(
                "broker %s holds none of our messages (new or wiped): republishing the log "
                "from the start instead of position %d",
                broker.name,
                checkpoint + 1,
            )
            checkpoint = 0
            await state.save_checkpoint(self._key, 0)
        status.checkpoint = status.acked_position = checkpoint
        pending: _Pending = deque()
        more, room = asyncio.Event(), asyncio.Event()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._acknowledge(pending, more, room))
            tasks.create_task(self._publish(checkpoint + 1, pending, more, room))

    async def _publish(
        self, start: int, pending: _Pending, more: asyncio.Event, room: asyncio.Event
    ) -> None:
        broker, status, settings = self.broker, self.status, self.settings
        partitions, source, limit = broker.partitions, settings.source, settings.max_in_flight
        skip = settings.skip_types
        async with self.store.subscribe(from_position=start) as events:
            async for event in events:
                while len(pending) >= limit:
                    room.clear()
                    await room.wait()
                if event.type in skip:
                    # Acknowledged at once, in order, so the checkpoint moves past it.
                    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                    done.set_result(None)
                    pending.append((event.position, done))
                    if not more.is_set():
                        more.set()
                    continue
                message = message_for(event, partitions, source)
                if self.tracer_provider is None or not is_live(event):
                    future = await broker.publish(message)
                else:
                    future = await self._traced_publish(event, message)
                pending.append((event.position, future))
                status.published += 1
                if not more.is_set():
                    more.set()
        raise StoreClosed("the relay's store was closed")

    async def _traced_publish(
        self, event: RecordedEvent, message: OutboundMessage
    ) -> asyncio.Future[Any]:
        from ..observability.tracing import publish_span

        with publish_span(
            event,
            destination=message.category,
            broker=self.broker.name,
            tracer_provider=self.tracer_provider,
        ):
            return await self.broker.publish(message)

    async def _acknowledge(
        self, pending: _Pending, more: asyncio.Event, room: asyncio.Event
    ) -> None:
        state, status, settings = self.state, self.status, self.settings
        saved_at = time.monotonic()
        try:
            while True:
                if not pending:
                    more.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(settings.checkpoint_interval):
                            await more.wait()
                else:
                    future = pending[0][1]
                    if not future.done():
                        done, _ = await asyncio.wait((future,), timeout=settings.ack_timeout)
                        if not done:
                            raise BrokerUnavailable(
                                f"no acknowledgement within {settings.ack_timeout} s"
                            )
                    acked = status.acked_position
                    while pending and pending[0][1].done():
                        position, future = pending.popleft()
                        if future.cancelled():
                            raise BrokerUnavailable("a publish was cancelled")
                        error = future.exception()
                        if error is not None:
                            raise BrokerUnavailable(f"publish failed: {error!r}") from error
                        acked = position
                    status.acked_position = acked
                    self._progress.set()
                    room.set()
                now = time.monotonic()
                if status.acked_position != status.checkpoint and (
                    status.acked_position - status.checkpoint >= settings.checkpoint_every
                    or now - saved_at >= settings.checkpoint_interval
                ):
                    await state.save_checkpoint(self._key, status.acked_position)
                    status.checkpoint = status.acked_position
                    saved_at = now
        finally:
            # What was acknowledged is kept, whatever ended the run.
            if status.acked_position > status.checkpoint:
                with contextlib.suppress(Exception):
                    await asyncio.shield(state.save_checkpoint(self._key, status.acked_position))
                    status.checkpoint = status.acked_position
