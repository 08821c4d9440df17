"""A tracer provider from the standard OpenTelemetry environment variables (extra ``otlp``).

``factstream serve`` calls :func:`tracer_provider_from_env`: tracing is on when the
environment asks for it (``OTEL_TRACES_EXPORTER``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or when ``--trace-console`` prints spans to stdout,
and off otherwise, so nothing is sent anywhere by default.

Honoured: ``OTEL_SDK_DISABLED``, ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none`` or
any installed exporter's entry point name, comma-separated), ``OTEL_EXPORTER_OTLP_PROTOCOL``
and ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` (``http/protobuf``, ``grpc``), and, read by the SDK
and the OTLP exporter themselves, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_EXPORTER_OTLP_ENDPOINT``, ``..._HEADERS``, ``..._TIMEOUT``, ``OTEL_TRACES_SAMPLER``, and
the ``OTEL_BSP_*`` batching settings. The service name defaults to ``factstream``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["tracer_provider_from_env", "tracing_requested"]

_ENTRY_POINTS = "opentelemetry_traces_exporter"
_OTLP = {
    "http/protobuf": ("otlp_proto_http", "opentelemetry-exporter-otlp-proto-http"),
    "grpc": ("otlp_proto_grpc", "opentelemetry-exporter-otlp-proto-grpc"),
}


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the OpenTelemetry variables in ``environ`` ask for traces to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _names(environ.get("OTEL_TRACES_EXPORTER", ""))
    if exporters:
        return exporters != ["none"]
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def tracer_provider_from_env(
    environ: Mapping[str, str] = os.environ,
    *,
    console: bool = False,
    service_name: str = "factstream",
) -> TracerProvider | None:
    """A tracer provider exporting as ``environ`` says, or ``None`` when nobody asked.

    Args:
        console: also print every span to stdout as it ends (``--trace-console``).
        service_name: ``service.name`` unless ``OTEL_SERVICE_NAME`` or
            ``OTEL_RESOURCE_ATTRIBUTES`` set one.

    Call ``provider.shutdown()`` on exit: it sends the spans still batched.

    Raises:
        ImportError: the SDK or the exporter asked for is not installed (the message names
            the package to install).
        ValueError: an exporter name or protocol is not known.
    """
    requested = tracing_requested(environ)
    if not requested and not console:
        return None
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError as exc:
        raise ImportError(
            "exporting traces needs the OpenTelemetry SDK: pip install 'factstream[otlp]'"
        ) from exc
    exporters = [_exporter(name, environ) for name in _exporter_names(environ)] if requested else []
    defaults = {SERVICE_NAME: service_name}
    named = "OTEL_SERVICE_NAME" in environ or "service.name=" in environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    resource = Resource.create({} if named else defaults)
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if console:
        # sys.stdout as it is now, not as it was when the SDK was imported
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stdout)))
    return provider


def _names(value: str) -> list[str]:
    return [name.strip().lower() for name in value.split(",") if name.strip()]


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    names = _names(environ.get("OTEL_TRACES_EXPORTER", "")) or ["otlp"]
    return [name for name in names if name != "none"]


def _exporter(name: str, environ: Mapping[str, str]) -> Any:
    package = None
    if name == "otlp":
        protocol = (
            environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        ).strip()
        if protocol not in _OTLP:
            raise ValueError(
                f"unknown OTLP protocol {protocol!r}: use http/protobuf or grpc "
                "(OTEL_EXPORTER_OTLP_PROTOCOL)"
            )
        name, package = _OTLP[protocol]
    found = entry_points(group=_ENTRY_POINTS, name=name)
    if not found:
        if package is not None:
            raise ImportError(f"exporting traces over OTLP needs {package}: pip install {package}")
        known = sorted({"otlp", "none", *(e.name for e in entry_points(group=_ENTRY_POINTS))})
        raise ValueError(
            f"unknown trace exporter {name!r} in OTEL_TRACES_EXPORTER; installed: "
            + ", ".join(known)
        )
    return next(iter(found)).load()()
