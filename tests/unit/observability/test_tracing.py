from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import factstream as fs
from factstream.observability import TracingEventStore, process_span


@pytest.fixture
def exporter() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield provider, spans
    provider.shutdown()


async def test_append_stores_its_span_context_in_the_events(
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, spans = exporter
    async with TracingEventStore(await fs.connect("memory://"), provider) as store:
        await store.append(
            "order-1", [fs.NewEvent("A", {}, correlation_id="c-1"), fs.NewEvent("B", {})]
        )
        events = await store.read("order-1")
    [span] = spans.get_finished_spans()
    assert span.kind is SpanKind.PRODUCER
    assert span.attributes is not None
    assert span.attributes["messaging.destination.name"] == "order-1"
    assert span.attributes["factstream.correlation_id"] == "c-1"
    assert span.attributes["factstream.position"] == 2
    trace_id = format(span.context.trace_id, "032x")
    span_id = format(span.context.span_id, "016x")
    for event in events:
        version, carried_trace, carried_span, flags = event.metadata["traceparent"].split("-")
        assert (version, carried_trace, carried_span) == ("00", trace_id, span_id)
        assert int(flags, 16) & 1  # sampled


async def test_a_live_event_continues_its_trace_and_a_batch_links_to_it(
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, spans = exporter
    async with TracingEventStore(await fs.connect("memory://"), provider) as store:
        await store.append("s", [fs.NewEvent("A", {})])
        await store.append("s", [fs.NewEvent("B", {})])
        events = await store.read("s")
    appends = spans.get_finished_spans()
    with process_span(events[:1], consumer="projection-x", live=True, tracer_provider=provider):
        pass
    with process_span(events, consumer="projection-x", live=False, tracer_provider=provider):
        pass
    live, batch = spans.get_finished_spans()[2:]
    assert live.parent is not None
    assert live.parent.span_id == appends[0].context.span_id
    assert live.context.trace_id == appends[0].context.trace_id
    assert batch.parent is None
    assert {link.context.span_id for link in batch.links} == {s.context.span_id for s in appends}
    assert batch.context.trace_id not in {s.context.trace_id for s in appends}


async def test_events_that_carry_a_trace_keep_it(
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, _ = exporter
    carried = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with TracingEventStore(await fs.connect("memory://"), provider) as store:
        await store.append("s", [fs.NewEvent("A", {}, metadata={"traceparent": carried})])
        [event] = await store.read("s")
    assert event.metadata["traceparent"] == carried
