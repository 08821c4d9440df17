"""``create_app()``: the ASGI application (Litestar) over an event store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from litestar import Litestar
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from .. import __version__
from ..observability import Metrics
from ..store.base import EventStore
from .console import console_routes
from .control import control_routes
from .endpoints import CommandEndpoint, QueryEndpoint, command_handler, query_handler
from .health import StoreCheck, health_routes, metrics_route
from .lag import LagHistory
from .operations import operation_routes
from .ports import DeadLetterSource, HealthCheck, ProjectionControl, ProjectionStatusSource
from .problems import ProblemType, problem_handler
from .security import TokenAuthMiddleware
from .settings import HttpSettings
from .sse import Feeds, feed_route
from .streams import stream_routes

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["create_app"]


def create_app(
    settings: HttpSettings,
    store: EventStore,
    *,
    endpoints: Sequence[CommandEndpoint | QueryEndpoint] = (),
    problem_types: Mapping[type[Exception], ProblemType] | None = None,
    metrics: Metrics | None = None,
    health_checks: Sequence[HealthCheck] = (),
    projections: ProjectionStatusSource | None = None,
    dead_letters: DeadLetterSource | None = None,
    projection_control: ProjectionControl | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Litestar:
    """The HTTP API and web console over ``store``.

    Args:
        settings: frozen settings (a token is required off loopback; checked there).
        store: the event store; the caller opens and closes it.
        endpoints: the application's commands and queries.
        problem_types: how domain exceptions are answered, e.g.
            ``{OrderNotFound: ProblemType(404, "order-not-found")}``.
        metrics: served at ``/metrics`` (wrap the store in ``InstrumentedEventStore`` to fill
            it); no ``/metrics`` route without it.
        health_checks: readiness checks besides the store's own.
        projections: projection statuses for ``/projections`` and the console's lag chart.
        dead_letters: the dead-letter store behind ``/dead-letters``.
        projection_control: rebuilds and resets projections
            (``POST /projections/{name}/rebuild|reset``, the console's buttons); 501 without.
        tracer_provider: when given, every request gets an OpenTelemetry SERVER span that
            continues an incoming W3C ``traceparent``; handlers run inside it (wrap the store
            in ``TracingEventStore`` with the same provider to trace the appends).
    """
    feeds = Feeds()
    lag = (
        LagHistory(projections, store, settings.lag_sample_interval, settings.lag_history)
        if projections is not None
        else None
    )
    features = {
        "streams": True,
        "events_by_id": True,
        "projections": projections is not None,
        "dead_letters": dead_letters is not None,
        "projection_control": projection_control is not None,
        "metrics": metrics is not None,
        "token_required": settings.token is not None,
    }
    handlers: list[Any] = [
        *health_routes([StoreCheck(store), *health_checks], settings.health_timeout),
        *stream_routes(store, settings, features),
        feed_route(store, settings, feeds),
        *operation_routes(store, settings, lag, dead_letters, projection_control is not None),
        *control_routes(projection_control),
    ]
    if metrics is not None:
        handlers.append(metrics_route(metrics))
    if settings.console:
        handlers.extend(console_routes(settings))
    for endpoint in endpoints:
        if isinstance(endpoint, CommandEndpoint):
            handlers.append(command_handler(endpoint))
        else:
            handlers.append(query_handler(endpoint, store, settings.consistency_timeout))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        sampler = asyncio.create_task(lag.run(), name="factstream-lag") if lag else None
        try:
            yield
        finally:
            feeds.stop_all()
            if sampler is not None:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler

    middleware = []
    if tracer_provider is not None:
        from .tracing import TracingMiddleware

        middleware.append(
            DefineMiddleware(cast(Any, TracingMiddleware), tracer_provider=tracer_provider)
        )
    security: list[dict[str, list[str]]] | None = None
    if settings.token is not None:
        middleware.append(DefineMiddleware(cast(Any, TokenAuthMiddleware), token=settings.token))
        security = [{"bearer": []}]
    openapi = OpenAPIConfig(
        title=settings.title,
        version=__version__,
        description="factstream: commands, queries, the event log and its live feed.",
        path="/schema",
        # The JSON document only: documentation UIs load their scripts from CDNs.
        render_plugins=[JsonRenderPlugin()],
        components=Components(
            security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
        ),
        security=security,
    )
    handler = problem_handler(problem_types or {})
    app = Litestar(
        route_handlers=handlers,
        exception_handlers={Exception: handler},
        middleware=middleware,
        openapi_config=openapi,
        request_max_body_size=settings.max_body_bytes,
        lifespan=[lifespan],
        debug=False,
        logging_config=None,  # logging is the host application's to configure
    )
    app.state.feeds = feeds
    return app
