"""Command bus telemetry: a middleware timing every dispatch and tracing it.

``CommandBus(middleware=[command_telemetry(metrics, tracer_provider)])`` records
``factstream_command_duration_seconds`` (labels ``command``, ``outcome``: ``ok``, ``conflict``
or ``error``) and ``factstream_command_conflict_retries_total`` (re-runs after a
``WrongExpectedVersion``), and opens a ``command`` span per dispatch whose children are the
appends the handler makes (through a :class:`~factstream.observability.TracingEventStore`).

The middleware runs around the bus's retries, so one dispatch is one observation; the retries
are read from ``context.attempt`` once the chain returns.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..domain.commands import CommandContext, Middleware, Next
from ..events import WrongExpectedVersion
from . import names

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from .metrics import Metrics

__all__ = ["command_telemetry"]


def command_telemetry(
    metrics: Metrics | None = None, tracer_provider: TracerProvider | None = None
) -> Middleware:
    """A :class:`~factstream.domain.commands.CommandBus` middleware recording metrics and spans.

    Args:
        metrics: where to record durations and conflict retries; none recorded without it.
        tracer_provider: where spans go; ``None`` for no spans (OpenTelemetry is not imported).
            Pass the provider explicitly: a middleware without one opens no span, so the
            default path never touches OpenTelemetry.
    """
    duration = metrics.histogram(names.COMMAND_DURATION) if metrics is not None else None
    retries = metrics.counter(names.COMMAND_CONFLICT_RETRIES) if metrics is not None else None
    tracer = None
    if tracer_provider is not None:
        from .tracing import _tracer

        tracer = _tracer(tracer_provider)

    def record(command_type: str, outcome: str, started: float, context: CommandContext) -> None:
        if duration is not None:
            duration.labels(command_type, outcome).observe(time.perf_counter() - started)
        if retries is not None and context.attempt > 1:
            retries.labels(command_type).inc(context.attempt - 1)

    async def untraced(command: Any, context: CommandContext, call_next: Next) -> Any:
        command_type = type(command).__name__
        started = time.perf_counter()
        try:
            result = await call_next(command, context)
        except WrongExpectedVersion:
            record(command_type, "conflict", started, context)
            raise
        except BaseException:
            record(command_type, "error", started, context)
            raise
        record(command_type, "ok", started, context)
        return result

    if tracer is None:
        return untraced

    async def traced(command: Any, context: CommandContext, call_next: Next) -> Any:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        attributes: dict[str, Any] = {
            "factstream.command.type": type(command).__name__,
            "factstream.command.id": str(context.command_id),
            "factstream.correlation_id": context.correlation_id,
        }
        if context.causation_id:
            attributes["factstream.causation_id"] = context.causation_id
        assert tracer is not None
        with tracer.start_as_current_span(
            names.SPAN_COMMAND.name,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=True,
            set_status_on_exception=True,
        ) as span:
            try:
                return await untraced(command, context, call_next)
            except WrongExpectedVersion:
                span.set_status(Status(StatusCode.ERROR, "concurrency conflict"))
                raise
            finally:
                span.set_attribute("factstream.command.attempts", context.attempt)

    return traced
