"""The command bus middleware: durations and conflict retries by command type, and spans."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import factstream as fs
from factstream.domain.commands import CommandBus, CommandContext
from factstream.observability import Metrics, TracingEventStore
from factstream.observability.commands import command_telemetry
from factstream.observability.names import COMMAND_CONFLICT_RETRIES, COMMAND_DURATION


@dataclass(frozen=True)
class Rename:
    name: str


class Boom(Exception):
    pass


def duration_count(metrics: Metrics, command: str, outcome: str) -> float | None:
    return metrics.registry.get_sample_value(
        f"{COMMAND_DURATION.name}_count", {"command": command, "outcome": outcome}
    )


def retries(metrics: Metrics, command: str) -> float | None:
    return metrics.registry.get_sample_value(COMMAND_CONFLICT_RETRIES.name, {"command": command})


def conflicting(times: int) -> tuple[list[int], object]:
    calls: list[int] = []

    async def handle(command: Rename, context: CommandContext) -> str:
        calls.append(context.attempt)
        if len(calls) <= times:
            raise fs.WrongExpectedVersion("thing-1", 3, 4)
        return command.name

    return calls, handle


@pytest.fixture
def exporter() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield provider, spans
    provider.shutdown()


async def test_a_dispatch_records_its_duration_by_command_and_outcome() -> None:
    metrics = Metrics()
    bus = CommandBus(middleware=[command_telemetry(metrics)])
    _, handle = conflicting(0)
    bus.register(Rename, handle)  # type: ignore[arg-type]
    assert await bus.dispatch(Rename("a")) == "a"
    assert await bus.dispatch(Rename("b")) == "b"
    assert duration_count(metrics, "Rename", "ok") == 2
    assert retries(metrics, "Rename") is None  # no conflict: no retry recorded


async def test_conflict_retries_are_counted_and_the_dispatch_is_one_observation() -> None:
    metrics = Metrics()
    bus = CommandBus(max_attempts=3, middleware=[command_telemetry(metrics)])
    calls, handle = conflicting(2)
    bus.register(Rename, handle)  # type: ignore[arg-type]
    assert await bus.dispatch(Rename("a")) == "a"
    assert calls == [1, 2, 3]
    assert duration_count(metrics, "Rename", "ok") == 1
    assert retries(metrics, "Rename") == 2


async def test_exhausted_retries_count_as_a_conflict_outcome() -> None:
    metrics = Metrics()
    bus = CommandBus(max_attempts=2, middleware=[command_telemetry(metrics)])
    _, handle = conflicting(5)
    bus.register(Rename, handle)  # type: ignore[arg-type]
    with pytest.raises(fs.WrongExpectedVersion):
        await bus.dispatch(Rename("a"))
    assert duration_count(metrics, "Rename", "conflict") == 1
    assert duration_count(metrics, "Rename", "ok") is None
    assert retries(metrics, "Rename") == 1


async def test_a_failing_handler_counts_as_an_error_outcome() -> None:
    metrics = Metrics()
    bus = CommandBus(middleware=[command_telemetry(metrics)])

    async def fail(command: Rename, context: CommandContext) -> None:
        raise Boom

    bus.register(Rename, fail)
    with pytest.raises(Boom):
        await bus.dispatch(Rename("a"))
    assert duration_count(metrics, "Rename", "error") == 1
    assert (
        metrics.registry.get_sample_value(
            f"{COMMAND_DURATION.name}_bucket",
            {"command": "Rename", "outcome": "error", "le": "10.0"},
        )
        == 1
    )


async def test_a_dispatch_is_a_span_with_the_append_as_its_child(
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, spans = exporter
    bus = CommandBus(middleware=[command_telemetry(tracer_provider=provider)])
    async with TracingEventStore(await fs.connect("memory://"), provider) as store:

        async def handle(command: Rename, context: CommandContext) -> None:
            if context.attempt == 1:
                raise fs.WrongExpectedVersion("thing-1", 3, 4)
            await store.append(
                "thing-1",
                [fs.NewEvent("Renamed", {"name": command.name}, correlation_id="c-9")],
            )

        bus.register(Rename, handle)
        await bus.dispatch(Rename("a"), correlation_id="c-9")
    append, command = spans.get_finished_spans()
    assert command.name == "command"
    assert command.kind is SpanKind.INTERNAL
    assert command.attributes is not None
    assert command.attributes["factstream.command.type"] == "Rename"
    assert command.attributes["factstream.correlation_id"] == "c-9"
    assert command.attributes["factstream.command.attempts"] == 2
    assert len(str(command.attributes["factstream.command.id"])) == 36
    assert append.parent is not None
    assert append.parent.span_id == command.context.span_id
    assert append.context.trace_id == command.context.trace_id


async def test_a_failed_dispatch_span_is_an_error(
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, spans = exporter
    bus = CommandBus(max_attempts=1, middleware=[command_telemetry(tracer_provider=provider)])
    _, handle = conflicting(5)
    bus.register(Rename, handle)  # type: ignore[arg-type]
    with pytest.raises(fs.WrongExpectedVersion):
        await bus.dispatch(Rename("a"))
    [span] = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]
