"""One HTTP command, one connected trace: the request, the command, the append, the relay's
publish, a consumer group's processing and a projection's update share one trace id.

The designed structure (OpenTelemetry messaging conventions)::

    client (the caller's span, sent as traceparent)
      └─ POST /orders                      SERVER   (the HTTP app)
          └─ command                       INTERNAL (command bus middleware)
              └─ send factstream           PRODUCER (TracingEventStore; stored in metadata)
                  ├─ publish factstream    PRODUCER (relay, continuing the event's trace)
                  ├─ process factstream    CONSUMER (consumer group "billing")
                  └─ process factstream    CONSUMER (projection "order_totals", live event)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import msgspec
import pytest
from opentelemetry.propagate import inject
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import factstream as fs
from factstream.domain.commands import CommandBus, CommandContext
from factstream.http import CommandCall, CommandEndpoint, CommandResult, HttpSettings, create_app
from factstream.observability import Metrics, TracingEventStore
from factstream.observability.commands import command_telemetry
from factstream.projections import ProjectionRunner
from factstream.streaming import (
    ConsumerGroup,
    GroupSettings,
    MemoryBroker,
    MemoryStreamingState,
    Relay,
    RelaySettings,
    RetryPolicy,
)

RELAY = RelaySettings(lease_ttl=0.6, ack_timeout=1.0, backoff_initial=0.05, backoff_max=0.2)
GROUP = GroupSettings(
    max_in_flight=16,
    fetch_timeout=0.05,
    lease_ttl=0.45,
    retry=RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02),
)


class PlaceOrderBody(msgspec.Struct, frozen=True):
    order_id: str
    total: int


class PlaceOrder(msgspec.Struct, frozen=True):
    order_id: str
    total: int


class OrderTotals(fs.Projection[fs.SqlTransaction]):
    name = "order_totals"
    tables: ClassVar[dict[str, str]] = {
        "totals": "CREATE TABLE {totals} (order_id TEXT PRIMARY KEY, total INTEGER)"
    }

    @fs.handles("OrderPlaced")
    def placed(self, event: fs.RecordedEvent, tx: fs.SqlTransaction) -> None:
        tx.execute(
            "INSERT INTO {totals} VALUES (?, ?)", (event.data["order_id"], event.data["total"])
        )


@pytest.fixture
def exporter() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield provider, spans
    provider.shutdown()


@contextlib.asynccontextmanager
async def running(*runs: Awaitable[None]) -> AsyncIterator[None]:
    tasks = [asyncio.ensure_future(run) for run in runs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout} s")


def only(spans: list[ReadableSpan], name: str, **attributes: object) -> ReadableSpan:
    found = [
        span
        for span in spans
        if span.name == name
        and all((span.attributes or {}).get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, [(s.name, dict(s.attributes or {})) for s in spans]
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_one_http_command_produces_one_connected_trace(
    exporter: tuple[TracerProvider, InMemorySpanExporter], tmp_path: Path
) -> None:
    provider, exported = exporter
    metrics = Metrics()
    store = TracingEventStore(await fs.connect("memory://"), provider)
    bus = CommandBus(middleware=[command_telemetry(metrics, provider)])

    async def place(command: PlaceOrder, context: CommandContext) -> fs.AppendResult:
        stream = f"order-{command.order_id}"
        [event_id] = context.event_ids(stream, 1)
        return await store.append(
            stream,
            [
                fs.NewEvent(
                    "OrderPlaced",
                    {"order_id": command.order_id, "total": command.total},
                    id=event_id,
                    correlation_id=context.correlation_id,
                    causation_id=str(context.command_id),
                )
            ],
            expected_version=fs.NO_STREAM,
        )

    bus.register(PlaceOrder, place)

    async def place_endpoint(call: CommandCall[PlaceOrderBody]) -> CommandResult:
        result = await bus.dispatch(
            PlaceOrder(call.body.order_id, call.body.total), correlation_id=call.correlation_id
        )
        return CommandResult(result.position, location=f"/orders/{call.body.order_id}")

    app: Any = create_app(
        HttpSettings(),
        store,
        endpoints=[
            CommandEndpoint("/orders", place_endpoint, body=PlaceOrderBody, status_code=201)
        ],
        tracer_provider=provider,
    )
    broker, state = MemoryBroker(2), MemoryStreamingState()
    billed: list[fs.RecordedEvent] = []

    async def bill(event: fs.RecordedEvent) -> None:
        billed.append(event)

    relay = Relay(store, broker, state, RELAY, tracer_provider=provider)
    group = ConsumerGroup("billing", broker, store, state, bill, GROUP, tracer_provider=provider)
    runner = ProjectionRunner(
        store, OrderTotals(), fs.SqliteTarget(tmp_path / "rm.db"), tracer_provider=provider
    )
    caller = provider.get_tracer("test-client")
    try:
        async with runner, running(relay.run(), group.run()):
            await wait_until(lambda: group.status.partitions == [0, 1])
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test"
            ) as client:
                with caller.start_as_current_span("client", kind=SpanKind.CLIENT) as client_span:
                    headers: dict[str, str] = {"X-Correlation-ID": "corr-1"}
                    inject(headers)
                    response = await client.post(
                        "/orders", json={"order_id": "o-1", "total": 42}, headers=headers
                    )
            assert response.status_code == 201, response.text
            position = int(response.headers["Consistency-Token"])
            assert await runner.wait_for(position, timeout=10)
            await relay.wait_for(position, timeout=10)
            await wait_until(lambda: len(billed) == 1)
            await wait_until(
                lambda: (
                    sum(s.name == "process factstream" for s in exported.get_finished_spans()) == 2
                )
            )
    finally:
        await store.close()

    spans = list(exported.get_finished_spans())
    caller_span = only(spans, "client")
    server = only(spans, "POST /orders")
    command = only(spans, "command")
    append = only(spans, "send factstream")
    publish = only(spans, "publish factstream")
    consumed = only(spans, "process factstream", **{"messaging.consumer.group.name": "billing"})
    projected = only(
        spans, "process factstream", **{"messaging.consumer.group.name": "order_totals"}
    )
    trace_ids = {span.context.trace_id for span in spans}
    assert trace_ids == {client_span.get_span_context().trace_id}, "one connected trace"

    # parent/child: the request continues the caller, every later hop continues the append
    assert parent_of(server) == caller_span.context.span_id
    assert parent_of(command) == server.context.span_id
    assert parent_of(append) == command.context.span_id
    assert parent_of(publish) == append.context.span_id
    assert parent_of(consumed) == append.context.span_id
    assert parent_of(projected) == append.context.span_id
    assert not projected.links  # a live event continues its trace rather than linking

    kinds = [span.kind for span in (server, command, append, publish, consumed, projected)]
    assert kinds == [
        SpanKind.SERVER,
        SpanKind.INTERNAL,
        SpanKind.PRODUCER,
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
        SpanKind.CONSUMER,
    ]
    assert server.attributes is not None
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.route"] == "/orders"
    assert server.attributes["http.response.status_code"] == 201
    assert command.attributes is not None
    assert command.attributes["factstream.command.type"] == "PlaceOrder"
    assert command.attributes["factstream.correlation_id"] == "corr-1"
    for hop in (append, publish, consumed, projected):
        assert hop.attributes is not None
        assert hop.attributes["factstream.correlation_id"] == "corr-1"
        assert hop.attributes["messaging.message.conversation_id"] == "corr-1"
        assert hop.attributes["messaging.system"] == "factstream"
    # OpenTelemetry messaging conventions on the process spans
    [placed] = billed
    assert consumed.attributes is not None
    assert projected.attributes is not None
    for process in (consumed, projected):
        assert process.attributes is not None
        assert process.attributes["messaging.operation.type"] == "process"
        assert process.attributes["messaging.operation.name"] == "process"
        assert process.attributes["messaging.message.id"] == str(placed.id)
        assert process.attributes["messaging.batch.message_count"] == 1
    assert consumed.attributes["messaging.destination.name"] == "order"  # the subject's category
    assert consumed.attributes["messaging.destination.partition.id"] in ("0", "1")
    assert publish.attributes is not None
    assert (
        consumed.attributes["messaging.destination.name"]
        == publish.attributes["messaging.destination.name"]
    )
    assert projected.attributes["messaging.destination.name"] == "order-o-1"  # the stream read
    assert "messaging.destination.partition.id" not in projected.attributes
    assert (
        metrics.registry.get_sample_value(
            "factstream_command_duration_seconds_count", {"command": "PlaceOrder", "outcome": "ok"}
        )
        == 1
    )
