"""OpenTelemetry tracing (extra ``otel``): trace context stored with events, spans around hops.

At append, :class:`TracingEventStore` opens a producer span and stores its W3C trace context
(``traceparent``, ``tracestate``) in each event's metadata. Whoever processes the event later
(a projection, the relay, a consumer) calls :func:`process_span`: for one live event the span
continues the event's trace; for a batch or a replay it only links to the events' traces, so a
rebuild does not hang millions of spans on old traces.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgspec

from ..events import ANY, AppendResult, ExpectedVersion, NewEvent, RecordedEvent
from ..store.base import EventStore
from ..store.decorator import StoreDecorator
from .names import SPAN_APPEND, SPAN_PROCESS, SPAN_PUBLISH

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

__all__ = [
    "LIVE_WINDOW",
    "TRACE_KEYS",
    "TracingEventStore",
    "event_context",
    "is_live",
    "process_span",
    "publish_span",
]

TRACE_KEYS = ("traceparent", "tracestate")
_MAX_LINKS = 128
LIVE_WINDOW = 60.0
"""Seconds after its commit an event counts as live: its processing continues its trace.

Older events (a replay, a consumer group reading a stream from its start, a relay
republishing the log) only link to their traces, or get no span, so no old trace grows."""
_SYSTEM = "factstream"


def _tracer(provider: TracerProvider | None) -> Tracer:
    try:
        from opentelemetry import trace
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("tracing needs the 'otel' extra: pip install 'factstream[otel]'") from exc
    return trace.get_tracer("factstream", tracer_provider=provider)


def _common_attributes(events: Sequence[NewEvent] | Sequence[RecordedEvent]) -> dict[str, Any]:
    attributes: dict[str, Any] = {"messaging.system": _SYSTEM}
    if events:
        first = events[0]
        if first.correlation_id:
            attributes["factstream.correlation_id"] = first.correlation_id
            # OpenTelemetry's name for a correlation id
            attributes["messaging.message.conversation_id"] = first.correlation_id
        if first.causation_id:
            attributes["factstream.causation_id"] = first.causation_id
    return attributes


class TracingEventStore(StoreDecorator):
    """Opens a span per append and stores its trace context in the events' metadata.

    Events that already carry a ``traceparent`` (re-appended or imported ones) keep theirs.
    """

    def __init__(self, inner: EventStore, tracer_provider: TracerProvider | None = None) -> None:
        super().__init__(inner)
        self._tracer = _tracer(tracer_provider)

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        from opentelemetry.propagate import inject
        from opentelemetry.trace import SpanKind

        attributes = _common_attributes(events)
        attributes["messaging.operation.type"] = "send"
        attributes["messaging.destination.name"] = stream_id
        attributes["messaging.batch.message_count"] = len(events)
        with self._tracer.start_as_current_span(
            SPAN_APPEND.name, kind=SpanKind.PRODUCER, attributes=attributes
        ) as span:
            carrier: dict[str, str] = {}
            inject(carrier)
            traced = [_with_trace(event, carrier) for event in events] if carrier else events
            result = await self.inner.append(stream_id, traced, expected_version)
            span.set_attribute("factstream.position", result.position)
            span.set_attribute("factstream.version", result.version)
            return result


def _with_trace(event: NewEvent, carrier: Mapping[str, str]) -> NewEvent:
    metadata = event.metadata or {}
    if "traceparent" in metadata:
        return event
    return msgspec.structs.replace(event, metadata={**metadata, **carrier})


def is_live(event: RecordedEvent, window: float = LIVE_WINDOW) -> bool:
    """Whether ``event`` was committed within the last ``window`` seconds."""
    age = dt.datetime.now(dt.UTC) - event.timestamp
    return age.total_seconds() <= window


def event_context(event: RecordedEvent) -> Any:
    """The OpenTelemetry context stored with ``event`` (empty when it carries none)."""
    from opentelemetry.propagate import extract

    carrier = {key: str(event.metadata[key]) for key in TRACE_KEYS if key in event.metadata}
    return extract(carrier)


@contextmanager
def process_span(
    events: Sequence[RecordedEvent],
    *,
    consumer: str,
    live: bool,
    tracer_provider: TracerProvider | None = None,
    destination: str | None = None,
    partition: int | None = None,
) -> Iterator[Span]:
    """A consumer span around processing ``events``.

    Attributes follow the OpenTelemetry messaging conventions: operation ``process``, the
    consumer group, the destination, the message id (for one event), the correlation id as
    the conversation id, the batch size.

    Args:
        events: what is being processed (one event or a batch).
        consumer: who processes (a projection, relay or consumer group name).
        live: True for events processed as they arrive. One live event continues its trace;
            a batch, or anything not live (catch-up, replay, rebuild), only links to the traces.
        destination: where the events were read from (a broker subject's category); by
            default their stream id when they all belong to one stream, else none (the
            conventions leave it out for a batch from several destinations).
        partition: the broker partition they were read from, if any.
    """
    from opentelemetry import trace
    from opentelemetry.trace import Link, SpanKind

    tracer = _tracer(tracer_provider)
    attributes = _common_attributes(events)
    attributes["messaging.operation.type"] = "process"
    attributes["messaging.operation.name"] = "process"
    attributes["messaging.consumer.group.name"] = consumer
    attributes["messaging.batch.message_count"] = len(events)
    if destination is None and events:
        streams = {event.stream_id for event in events}
        destination = next(iter(streams)) if len(streams) == 1 else None
    if destination is not None:
        attributes["messaging.destination.name"] = destination
    if partition is not None:
        attributes["messaging.destination.partition.id"] = str(partition)
    if len(events) == 1:
        attributes["messaging.message.id"] = str(events[0].id)
    if events:
        attributes["factstream.position"] = events[-1].position
    if live and len(events) == 1:
        context = event_context(events[0])
        with tracer.start_as_current_span(
            SPAN_PROCESS.name, context=context, kind=SpanKind.CONSUMER, attributes=attributes
        ) as span:
            yield span
        return
    links = []
    for event in events[:_MAX_LINKS]:
        span_context = trace.get_current_span(event_context(event)).get_span_context()
        if span_context.is_valid:
            links.append(Link(span_context))
    with tracer.start_as_current_span(
        SPAN_PROCESS.name, kind=SpanKind.CONSUMER, attributes=attributes, links=links
    ) as span:
        yield span


@contextmanager
def publish_span(
    event: RecordedEvent,
    *,
    destination: str,
    broker: str,
    tracer_provider: TracerProvider | None = None,
) -> Iterator[Span]:
    """A producer span around the relay publishing ``event``, continuing the event's trace.

    The relay opens it only for live events (:func:`is_live`): republishing an old log opens
    no spans. The span covers handing the message to the broker (not waiting for the ack);
    the message's ``ce-traceparent`` header stays the event's own (the append's), so consumers
    continue the append's trace whatever the relay does.

    Args:
        event: the event being published.
        destination: where it goes (the subject or topic, e.g. the stream's category).
        broker: the broker's name (``memory``, ``nats``, ...), as ``factstream.broker``.
    """
    from opentelemetry.trace import SpanKind

    attributes = _common_attributes([event])
    attributes["messaging.operation.type"] = "send"
    attributes["messaging.operation.name"] = "publish"
    attributes["messaging.destination.name"] = destination
    attributes["messaging.message.id"] = str(event.id)
    attributes["factstream.broker"] = broker
    attributes["factstream.position"] = event.position
    with _tracer(tracer_provider).start_as_current_span(
        SPAN_PUBLISH.name,
        context=event_context(event),
        kind=SpanKind.PRODUCER,
        attributes=attributes,
    ) as span:
        yield span
