"""Structured logs: JSON or text records with the ids of the command or event being handled."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from opentelemetry.sdk.trace import TracerProvider

import factstream as fs
from factstream.domain import CommandBus, CommandContext
from factstream.observability.logging import (
    CorrelationFilter,
    JsonFormatter,
    TextFormatter,
    configure,
    configured_json,
)
from factstream.streaming import (
    ConsumerGroup,
    GroupSettings,
    MemoryBroker,
    MemoryStreamingState,
    Relay,
    RelaySettings,
)
from tests.unit.streaming.helpers import running, wait_until

log = logging.getLogger("factstream.test.handlers")


class Ship(msgspec.Struct, frozen=True):
    order_id: str


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """Everything logged at INFO and above, as JSON lines; the root logger restored after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure(json=True, level="INFO", stream=stream)
    yield stream
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def records(stream: io.StringIO, message: str) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [record for record in found if record["message"] == message]


async def test_a_command_handlers_records_carry_its_ids(lines: io.StringIO) -> None:
    bus = CommandBus()

    async def ship(command: Ship, context: CommandContext) -> None:
        log.info("shipping %s", command.order_id, extra={"carrier": "post"})

    bus.register(Ship, ship)
    async with await fs.connect("memory://") as store:
        await store.append("order-1", [fs.NewEvent("OrderPaid", {}, correlation_id="corr-7")])
        [cause] = await store.read("order-1")
    await bus.dispatch(Ship("o-1"), caused_by=cause)
    log.info("after the command")
    [record] = records(lines, "shipping o-1")
    assert record["correlation_id"] == "corr-7"
    assert record["causation_id"] == str(cause.id)
    assert "command_id" in record
    assert "event_id" not in record
    assert record["level"] == "INFO"
    assert record["logger"] == "factstream.test.handlers"
    assert record["carrier"] == "post"  # extra= fields are kept
    assert record["time"].endswith("+00:00")
    [after] = records(lines, "after the command")
    assert "correlation_id" not in after  # the context ends with the dispatch


class Noisy(fs.Projection[fs.SqlTransaction]):
    name = "noisy"

    @fs.handles("Placed")
    def placed(self, event: fs.RecordedEvent, tx: fs.SqlTransaction) -> None:
        log.info("projecting %s", event.stream_id)


async def test_projection_and_consumer_handlers_records_carry_the_events_ids(
    lines: io.StringIO, tmp_path: Path
) -> None:
    store = await fs.connect("memory://")
    try:
        placed = await store.append(
            "order-1",
            [fs.NewEvent("Placed", {}, correlation_id="corr-1", causation_id="cmd-1")],
        )
        [event] = await store.read("order-1")
        runner = fs.ProjectionRunner(store, Noisy(), fs.SqliteTarget(tmp_path / "rm.db"))
        await runner.catch_up(placed.position)

        async def consume(event: fs.RecordedEvent) -> None:
            log.info("consuming %s", event.stream_id)

        broker, state = MemoryBroker(1), MemoryStreamingState()
        settings = GroupSettings(fetch_timeout=0.05, lease_ttl=0.6)
        group = ConsumerGroup("mailer", broker, store, state, consume, settings)
        relay = Relay(store, broker, state, RelaySettings(lease_ttl=0.6))
        async with running(relay.run(), group.run()):
            await wait_until(lambda: bool(records(lines, "consuming order-1")))
    finally:
        await store.close()
    for message in ("projecting order-1", "consuming order-1"):
        [record] = records(lines, message)
        assert record["correlation_id"] == "corr-1", message
        assert record["causation_id"] == "cmd-1", message
        assert record["event_id"] == str(event.id), message


def test_records_in_a_span_carry_its_trace_and_span_ids(lines: io.StringIO) -> None:
    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("work") as span:
        log.warning("inside a span")
    provider.shutdown()
    [record] = records(lines, "inside a span")
    context = span.get_span_context()
    assert record["trace_id"] == f"{context.trace_id:032x}"
    assert record["span_id"] == f"{context.span_id:016x}"
    assert record["level"] == "WARNING"


def test_exceptions_and_text_format() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %d", (3,), None)
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    record.correlation_id = "corr-2"  # as given by extra=: kept over the context
    CorrelationFilter().filter(record)
    document = json.loads(JsonFormatter().format(record))
    assert document["message"] == "failed 3"
    assert document["correlation_id"] == "corr-2"
    assert "ValueError: boom" in document["exception"]
    text = TextFormatter().format(record)
    first, _, rest = text.partition("\n")
    assert first.endswith("ERROR x: failed 3 [correlation_id=corr-2]")
    assert "ValueError: boom" in rest
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "plain", None, None)
    CorrelationFilter().filter(plain)
    assert TextFormatter().format(plain).endswith("INFO x: plain")


def test_configure_replaces_its_own_handler_and_refuses_bad_levels() -> None:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        first = configure(json=True, stream=io.StringIO())
        assert configured_json()
        second = configure(json=False, level=logging.DEBUG, stream=io.StringIO())
        assert first not in root.handlers
        assert second in root.handlers
        assert not configured_json()
        assert root.level == logging.DEBUG
        with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
            configure(level="LOUD")
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
        root.setLevel(level)
