"""A SERVER span per HTTP request (OpenTelemetry HTTP semantic conventions).

Installed by ``create_app(..., tracer_provider=...)`` only; the module imports OpenTelemetry
when the middleware is built. An incoming W3C ``traceparent`` (and ``tracestate``) is continued,
and the route handler runs inside the span, so a command's ``command`` and append spans are its
children.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["TracingMiddleware"]

_PROPAGATED = (b"traceparent", b"tracestate")


class TracingMiddleware:
    """ASGI middleware opening a SERVER span around each HTTP request.

    Args:
        app: the next ASGI application.
        tracer_provider: where the spans go.
    """

    def __init__(self, app: ASGIApp, tracer_provider: TracerProvider) -> None:
        from ..observability.tracing import _tracer

        self.app = app
        self._tracer = _tracer(tracer_provider)

    async def __call__(self, asgi_scope: Scope, receive: Receive, send: Send) -> None:
        scope: Any = asgi_scope
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry.propagate import extract
        from opentelemetry.trace import SpanKind, Status, StatusCode

        carrier: dict[str, str] = {}
        user_agent = None
        for key, value in scope.get("headers", ()):
            if key in _PROPAGATED:
                carrier[key.decode("latin-1")] = value.decode("latin-1")
            elif key == b"user-agent":
                user_agent = value.decode("latin-1")
        method = scope.get("method", "GET")
        route = scope.get("path_template") or None
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope.get("path", "/"),
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        if route:
            attributes["http.route"] = route
        query = scope.get("query_string")
        if query:
            attributes["url.query"] = query.decode("latin-1")
        server = scope.get("server")
        if server:
            attributes["server.address"] = server[0]
            if server[1] is not None:
                attributes["server.port"] = server[1]
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        if user_agent:
            attributes["user_agent.original"] = user_agent
        with self._tracer.start_as_current_span(
            f"{method} {route}" if route else str(method),
            context=extract(carrier),
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=True,
            set_status_on_exception=True,
        ) as span:

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                        span.set_attribute("error.type", str(status))
                await send(message)

            await self.app(scope, receive, traced_send)
