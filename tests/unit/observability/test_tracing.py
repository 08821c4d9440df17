from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import factstream as fs
from factstream.http import CommandCall, CommandEndpoint, CommandResult, HttpSettings, create_app
from factstream.observability import TracingEventStore, process_span
from factstream.observability.tracing import LIVE_WINDOW, is_live
from factstream.streaming import ConsumerGroup, MemoryBroker, MemoryStreamingState, Relay


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


class Counted(fs.Projection[fs.SqlTransaction]):
    name = "counted"
    event_types = None

    async def apply(self, events: Sequence[fs.RecordedEvent], handle: Any) -> None:
        return None


async def test_a_projection_catching_up_links_to_the_traces_of_its_batch(
    exporter: tuple[TracerProvider, InMemorySpanExporter], tmp_path: Path
) -> None:
    provider, spans = exporter
    async with TracingEventStore(await fs.connect("memory://"), provider) as store:
        for n in range(3):
            await store.append(f"s-{n}", [fs.NewEvent("A", {})])
        runner = fs.ProjectionRunner(
            store, Counted(), fs.SqliteTarget(tmp_path / "rm.db"), tracer_provider=provider
        )
        await runner.catch_up(3)
    appends = [s for s in spans.get_finished_spans() if s.name == "send factstream"]
    [batch] = [s for s in spans.get_finished_spans() if s.name == "process factstream"]
    assert batch.parent is None
    assert {link.context.span_id for link in batch.links} == {s.context.span_id for s in appends}
    assert batch.attributes is not None
    assert batch.attributes["messaging.batch.message_count"] == 3
    assert batch.attributes["messaging.consumer.group.name"] == "counted"
    # three streams: no single destination, and no single message id (OTel conventions)
    assert "messaging.destination.name" not in batch.attributes
    assert "messaging.message.id" not in batch.attributes


async def test_http_requests_get_server_spans_continuing_the_callers_trace(
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, spans = exporter
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with await fs.connect("memory://") as store:
        app: Any = create_app(HttpSettings(), store, tracer_provider=provider)
        untraced: Any = create_app(HttpSettings(), store)
        for target in (app, untraced):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=target), base_url="http://test"
            ) as client:
                assert (await client.get("/health/live")).status_code == 200
                response = await client.get(
                    "/streams/nowhere/events", headers={"traceparent": caller}
                )
                assert response.status_code in (200, 404)
    first, second = spans.get_finished_spans()  # the untraced app made none
    assert first.kind is SpanKind.SERVER
    assert first.parent is None
    assert first.attributes is not None
    assert first.attributes["http.request.method"] == "GET"
    assert first.attributes["http.response.status_code"] == 200
    assert second.parent is not None
    assert format(second.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(second.parent.span_id, "016x") == "b7ad6b7169203331"
    assert second.attributes is not None
    route = str(second.attributes["http.route"])
    assert route.startswith("/streams/")
    assert second.name == "GET " + route


def test_components_without_a_tracer_provider_do_not_import_opentelemetry() -> None:
    code = (
        "import asyncio, sys\n"
        "import factstream as fs\n"
        "from factstream.domain.commands import CommandBus\n"
        "from factstream.observability.commands import command_telemetry\n"
        "from factstream.streaming import ConsumerGroup, MemoryBroker, Relay\n"
        "from factstream.streaming import MemoryStreamingState\n"
        "async def main():\n"
        "    store = await fs.connect('memory://')\n"
        "    broker, state = MemoryBroker(1), MemoryStreamingState()\n"
        "    Relay(store, broker, state)\n"
        "    async def handle(event): pass\n"
        "    ConsumerGroup('g', broker, store, state, handle)\n"
        "    CommandBus(middleware=[command_telemetry()])\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})


async def test_old_events_are_not_live_and_consumers_only_link_to_their_traces(
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, spans = exporter
    handled: list[fs.RecordedEvent] = []

    async def handle(event: fs.RecordedEvent) -> None:
        handled.append(event)

    async with TracingEventStore(await fs.connect("memory://"), provider) as store:
        await store.append("s", [fs.NewEvent("A", {})])
        [event] = await store.read("s")
        group = ConsumerGroup(
            "g", MemoryBroker(1), store, MemoryStreamingState(), handle, tracer_provider=provider
        )
        old = msgspec.structs.replace(
            event, timestamp=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=LIVE_WINDOW + 5)
        )
        assert is_live(event)
        assert not is_live(old)
        await group._traced(event)
        await group._traced(old)
    append, live, replayed = spans.get_finished_spans()
    assert handled == [event, old]
    assert live.parent is not None
    assert live.parent.span_id == append.context.span_id
    assert replayed.parent is None
    assert [link.context.span_id for link in replayed.links] == [append.context.span_id]


async def test_a_relay_republishing_old_events_opens_no_spans(
    exporter: tuple[TracerProvider, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, spans = exporter
    monkeypatch.setattr("factstream.streaming.relay.is_live", lambda event: False)
    async with TracingEventStore(await fs.connect("memory://"), provider) as store:
        written = await store.append("s", [fs.NewEvent("A", {}), fs.NewEvent("B", {})])
        relay = Relay(store, MemoryBroker(1), MemoryStreamingState(), tracer_provider=provider)
        task = asyncio.create_task(relay.run())
        try:
            await relay.wait_for(written.position, timeout=10)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert relay.status.published == 2
    assert [span.name for span in spans.get_finished_spans()] == ["send factstream"]


async def test_a_failing_request_span_is_an_error(
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, spans = exporter

    async def fail(call: CommandCall[None]) -> CommandResult:
        raise RuntimeError("boom")

    async with await fs.connect("memory://") as store:
        app: Any = create_app(
            HttpSettings(),
            store,
            endpoints=[CommandEndpoint("/fail", fail)],
            tracer_provider=provider,
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            assert (await client.post("/fail")).status_code == 500
    [span] = spans.get_finished_spans()
    assert span.name == "POST /fail"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 500
    assert span.attributes["error.type"] == "500"
