"""Tracer set-up from the OTEL_* environment: off by default, console, OTLP over HTTP to a
real receiver on loopback, and clear errors for what is not installed or not known."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from factstream.observability.setup import tracer_provider_from_env, tracing_requested

OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
)


class Receiver(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP collector stand-in: keeps every request's path, content type and body."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        self.arrived = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.arrived.set()

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def exported_spans(body: bytes) -> tuple[dict[str, str], list[str]]:
    """The resource attributes and span names of one OTLP export request."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    names = [span.name for scope in resource_spans.scope_spans for span in scope.spans]
    return attributes, names


def test_nothing_is_traced_unless_asked() -> None:
    assert tracer_provider_from_env({}) is None
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing_requested(
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}
    )
    assert tracing_requested({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1"})
    assert tracing_requested({"OTEL_TRACES_EXPORTER": "console"})


def test_the_otlp_endpoint_variable_sends_spans_to_the_collector(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    provider = tracer_provider_from_env()
    assert provider is not None
    with provider.get_tracer("test").start_as_current_span("work"):
        pass
    provider.shutdown()  # flushes the batch
    assert receiver.arrived.wait(10)
    [(path, content_type, body)] = receiver.received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    attributes, names = exported_spans(body)
    assert names == ["work"]
    assert attributes["service.name"] == "factstream"


def test_otel_service_name_wins_over_the_default(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{receiver.url}/v1/traces")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "orders-api")
    provider = tracer_provider_from_env()
    assert provider is not None
    with provider.get_tracer("test").start_as_current_span("work"):
        pass
    provider.shutdown()
    assert receiver.arrived.wait(10)
    attributes, _ = exported_spans(receiver.received[0][2])
    assert attributes["service.name"] == "orders-api"


def test_console_prints_each_span(capsys: pytest.CaptureFixture[str]) -> None:
    provider = tracer_provider_from_env(console=True)
    assert provider is not None
    with provider.get_tracer("test").start_as_current_span("printed"):
        pass
    provider.shutdown()
    span = json.loads(capsys.readouterr().out)
    assert span["name"] == "printed"
    assert span["resource"]["attributes"]["service.name"] == "factstream"


def test_unknown_exporters_and_protocols_are_clear_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin2")
    with pytest.raises(ValueError, match=r"unknown trace exporter 'zipkin2'.*installed: .*otlp"):
        tracer_provider_from_env()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ValueError, match="unknown OTLP protocol 'http/json'"):
        tracer_provider_from_env()


def test_a_missing_exporter_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import entry_points

    if entry_points(group="opentelemetry_traces_exporter", name="otlp_proto_grpc"):
        pytest.skip("the gRPC exporter is installed here")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ImportError, match="pip install opentelemetry-exporter-otlp-proto-grpc"):
        tracer_provider_from_env()
