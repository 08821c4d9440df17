"""Observability: the telemetry catalogue, Prometheus metrics and OpenTelemetry tracing.

Everything here wraps the components it observes; backends know nothing of it. prometheus-client
(extra ``metrics``) and opentelemetry-api (extra ``otel``) are imported only when used.
"""

from .commands import command_telemetry
from .instrumented import InstrumentedEventStore
from .metrics import Metrics
from .names import METRICS, SPANS, MetricSpec, SpanSpec
from .tracing import TracingEventStore, event_context, process_span

__all__ = [
    "METRICS",
    "SPANS",
    "InstrumentedEventStore",
    "MetricSpec",
    "Metrics",
    "SpanSpec",
    "TracingEventStore",
    "command_telemetry",
    "event_context",
    "process_span",
]
