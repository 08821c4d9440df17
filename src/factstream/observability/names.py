"""Every metric and span name factstream emits, with its meaning: the telemetry catalogue.

``docs/telemetry.md`` is generated from this module by :func:`catalogue_markdown`, and a test
keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["LOG_FIELDS", "METRICS", "SPANS", "MetricSpec", "SpanSpec", "catalogue_markdown"]

# Latency buckets from 100 µs (a grouped SQLite append) to 10 s (a stuck transaction).
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    kind: Literal["counter", "gauge", "histogram"]
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class SpanSpec:
    name: str
    kind: Literal["client", "producer", "consumer", "internal", "server"]
    help: str


# -- event store ----------------------------------------------------------------------------
APPEND_DURATION = MetricSpec(
    "factstream_append_duration_seconds",
    "histogram",
    "Time from calling append to its outcome (including waiting for a group commit).",
    ("backend", "outcome"),
    LATENCY_BUCKETS,
)
EVENTS_APPENDED = MetricSpec(
    "factstream_events_appended_total",
    "counter",
    "Events in successful appends (an idempotent retry counts again).",
    ("backend",),
)
APPEND_BATCH_SIZE = MetricSpec(
    "factstream_append_batch_events",
    "histogram",
    "Events per append call.",
    ("backend",),
    SIZE_BUCKETS,
)
APPEND_ERRORS = MetricSpec(
    "factstream_append_errors_total",
    "counter",
    "Appends that failed, by error class (WrongExpectedVersion, StoreUnavailable, ...).",
    ("backend", "error"),
)
READ_DURATION = MetricSpec(
    "factstream_read_duration_seconds",
    "histogram",
    "Time to read one stream or one page of the global log.",
    ("backend", "kind"),
    LATENCY_BUCKETS,
)
GROUP_COMMITS = MetricSpec(
    "factstream_group_commits_total",
    "counter",
    "Write transactions committed by a store's writer (group commit).",
    ("backend",),
)
GROUP_COMMIT_APPENDS = MetricSpec(
    "factstream_group_commit_appends_total",
    "counter",
    "Appends decided in those transactions; divided by factstream_group_commits_total it is "
    "the mean group size.",
    ("backend",),
)
HEAD_POSITION = MetricSpec(
    "factstream_head_position",
    "gauge",
    "The newest committed position this process knows.",
    ("backend",),
)

# -- subscriptions, projections, relay, consumers -------------------------------------------
LAG_EVENTS = MetricSpec(
    "factstream_lag_events",
    "gauge",
    "Events committed but not yet processed by a component (subscription, projection, relay, "
    "consumer).",
    ("component", "name"),
)
LAG_SECONDS = MetricSpec(
    "factstream_lag_seconds",
    "gauge",
    "Age of the newest event a component processed when it processed it (commit to processing).",
    ("component", "name"),
)
EVENTS_PROCESSED = MetricSpec(
    "factstream_events_processed_total",
    "counter",
    "Events processed by a component.",
    ("component", "name"),
)
BATCH_DURATION = MetricSpec(
    "factstream_batch_duration_seconds",
    "histogram",
    "Time to process and commit one batch (projection, relay publish, consumer).",
    ("component", "name"),
    LATENCY_BUCKETS,
)
HANDLER_FAILURES = MetricSpec(
    "factstream_handler_failures_total",
    "counter",
    "Handler calls that raised, before retries.",
    ("component", "name"),
)
RETRIES = MetricSpec(
    "factstream_retries_total",
    "counter",
    "Retries of a failed handler or publish.",
    ("component", "name"),
)
PARKED = MetricSpec(
    "factstream_parked_events",
    "gauge",
    "Events parked in dead letters (poison events and the later events of their streams).",
    ("component", "name"),
)
DEAD_LETTERED = MetricSpec(
    "factstream_dead_lettered_total",
    "counter",
    "Events or messages moved to dead letters.",
    ("component", "name"),
)
RELAY_PUBLISH_DURATION = MetricSpec(
    "factstream_relay_publish_duration_seconds",
    "histogram",
    "Time from publishing a message to the broker's acknowledgement.",
    ("broker",),
    LATENCY_BUCKETS,
)
RELAY_PENDING_ACKS = MetricSpec(
    "factstream_relay_pending_acks",
    "gauge",
    "Messages published and not yet acknowledged.",
    ("broker",),
)
REDELIVERIES = MetricSpec(
    "factstream_redeliveries_total",
    "counter",
    "Messages a consumer received more than once.",
    ("group",),
)
HEARTBEAT_AGE = MetricSpec(
    "factstream_heartbeat_age_seconds",
    "gauge",
    "Seconds since a runner, relay or consumer last wrote its heartbeat (projections: the "
    "freshest runner; relays and consumer members: each one, named <name>/<member>).",
    ("component", "name"),
)

# -- write side -----------------------------------------------------------------------------
COMMAND_DURATION = MetricSpec(
    "factstream_command_duration_seconds",
    "histogram",
    "Time to handle one command, retries included.",
    ("command", "outcome"),
    LATENCY_BUCKETS,
)
COMMAND_CONFLICT_RETRIES = MetricSpec(
    "factstream_command_conflict_retries_total",
    "counter",
    "Commands re-run after a WrongExpectedVersion.",
    ("command",),
)

METRICS: tuple[MetricSpec, ...] = (
    APPEND_DURATION,
    EVENTS_APPENDED,
    APPEND_BATCH_SIZE,
    APPEND_ERRORS,
    READ_DURATION,
    GROUP_COMMITS,
    GROUP_COMMIT_APPENDS,
    HEAD_POSITION,
    LAG_EVENTS,
    LAG_SECONDS,
    EVENTS_PROCESSED,
    BATCH_DURATION,
    HANDLER_FAILURES,
    RETRIES,
    PARKED,
    DEAD_LETTERED,
    RELAY_PUBLISH_DURATION,
    RELAY_PENDING_ACKS,
    REDELIVERIES,
    HEARTBEAT_AGE,
    COMMAND_DURATION,
    COMMAND_CONFLICT_RETRIES,
)

# -- spans (OpenTelemetry messaging conventions: "<operation> <destination>") ------------------
SPAN_APPEND = SpanSpec(
    "send factstream",
    "producer",
    "An append: the trace context of this span is stored in each event's metadata (traceparent).",
)
SPAN_PROCESS = SpanSpec(
    "process factstream",
    "consumer",
    "Processing of recorded events by a subscriber, projection or consumer. Continues the "
    "event's trace for one live event; links to the events' traces for batches and replays. "
    "Messaging attributes: operation, consumer group, destination (a consumer's subject "
    "category, a projection's stream), partition, message id, batch size, and the correlation "
    "id as `messaging.message.conversation_id`.",
)
SPAN_PUBLISH = SpanSpec(
    "publish factstream",
    "producer",
    "The relay handing one live event (committed in the last minute) to a broker; continues "
    "the event's trace, a sibling of the consumers' process spans (the message carries the "
    "append's traceparent unchanged). Republishing older events opens no spans.",
)
SPAN_COMMAND = SpanSpec(
    "command",
    "internal",
    "Handling of one command by the command bus, retries included (middleware "
    "`command_telemetry`); attributes: command type, command id, correlation id, attempts.",
)
SPAN_HTTP_SERVER = SpanSpec(
    "{method} {route}",
    "server",
    "One HTTP request to the app (`create_app(..., tracer_provider=...)`), continuing an "
    "incoming W3C `traceparent`; OpenTelemetry HTTP server conventions.",
)

SPANS: tuple[SpanSpec, ...] = (
    SPAN_HTTP_SERVER,
    SPAN_COMMAND,
    SPAN_APPEND,
    SPAN_PUBLISH,
    SPAN_PROCESS,
)


# -- structured log fields (factstream.observability.logging) -------------------------------
LOG_FIELDS: tuple[tuple[str, str], ...] = (
    ("correlation_id", "The conversation of the command or event being handled."),
    ("causation_id", "What caused it: the event behind a command, the command behind an event."),
    ("command_id", "The command being handled (by the command bus)."),
    ("event_id", "The event being handled (by a projection or a consumer group)."),
    ("trace_id", "The current OpenTelemetry span's trace, 32 hex digits."),
    ("span_id", "The current OpenTelemetry span, 16 hex digits."),
)


def catalogue_markdown() -> str:
    """The telemetry catalogue as Markdown (docs/telemetry.md)."""
    lines = [
        "# Telemetry catalogue",
        "",
        "Generated from `src/factstream/observability/names.py` by `catalogue_markdown()`;",
        "a test keeps it current.",
        "",
        "## Metrics (Prometheus)",
        "",
        "| name | type | labels | meaning |",
        "|---|---|---|---|",
    ]
    for metric in METRICS:
        labels = ", ".join(f"`{label}`" for label in metric.labels)
        lines.append(f"| `{metric.name}` | {metric.kind} | {labels} | {metric.help} |")
    lines += ["", "## Spans (OpenTelemetry)", "", "| name | kind | meaning |", "|---|---|---|"]
    for span in SPANS:
        lines.append(f"| `{span.name}` | {span.kind} | {span.help} |")
    lines += [
        "",
        "## Log record fields",
        "",
        "Set by `CorrelationFilter` (`factstream.observability.logging`) when known; JSON lines "
        "leave out the unknown ones.",
        "",
        "| field | meaning |",
        "|---|---|",
    ]
    for field, meaning in LOG_FIELDS:
        lines.append(f"| `{field}` | {meaning} |")
    return "\n".join(lines) + "\n"
