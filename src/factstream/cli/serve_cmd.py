"""``factstream serve``: the HTTP API, live feed, metrics, health and web console.

With ``--orders`` it runs the orders system of ``examples/orders`` over the store (its
projection runners, and the fulfilment saga on ``--broker``) and serves its commands and
queries too (``examples.orders.http``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import pathlib
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import typer

from .. import connect
from ..events import FactstreamError


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    store: str = typer.Option(
        "sqlite:///factstream.db", "--store", envvar="FACTSTREAM_STORE", help="The store URL."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind; off loopback needs --token."),
    port: int = typer.Option(8000, min=0, max=65535, help="TCP port."),
    token: str | None = typer.Option(
        None,
        envvar="FACTSTREAM_TOKEN",
        help="Bearer token clients must send (required off loopback; 16+ characters).",
    ),
    max_body_bytes: int = typer.Option(2 * 1024 * 1024, min=1, help="Largest request body."),
    console: bool = typer.Option(True, help="Serve the web console at /console."),
    metrics: bool = typer.Option(True, help="Serve Prometheus metrics at /metrics."),
    log_level: str = typer.Option("info", help="uvicorn's log level."),
    orders: bool = typer.Option(
        False,
        "--orders",
        help="Run the orders system (examples/orders) on the store and serve its API: "
        "POST /orders, GET /orders/{id}, ... (from a source checkout).",
    ),
    broker: str | None = typer.Option(
        None, "--broker", help="With --orders: the fulfilment saga's broker (memory://)."
    ),
    redis: str | None = typer.Option(
        None, "--redis", help="With --orders: a Redis for the get_order cache."
    ),
    trace_console: bool = typer.Option(
        False,
        "--trace-console",
        help="Print every span to stdout. Traces are also exported when the standard "
        "OTEL_* variables ask for it (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_EXPORTER...).",
    ),
) -> None:
    """Serve the HTTP API and the web console over a store (and the orders system's API
    with --orders)."""
    if not orders and (broker is not None or redis is not None):
        _fail("--broker and --redis configure the orders system: add --orders")
    try:
        from ..http import HttpSettings
    except ImportError as exc:
        _fail(
            f"serving needs the 'http' extra ({exc.name} is missing): "
            "pip install 'factstream[http]'"
        )
    try:
        settings = HttpSettings(
            host=host, port=port, token=token, max_body_bytes=max_body_bytes, console=console
        )
    except ValueError as exc:
        _fail(str(exc))
    system = _Orders(broker or "memory://", redis) if orders else None
    provider = _tracer_provider(trace_console)
    try:
        asyncio.run(_serve(settings, store, metrics, log_level, system, provider))
    finally:
        if provider is not None:
            provider.shutdown()  # sends the spans still batched


def _tracer_provider(console: bool) -> Any:
    try:
        from ..observability.setup import tracer_provider_from_env

        return tracer_provider_from_env(console=console)
    except (ImportError, ValueError) as exc:
        _fail(f"tracing: {exc}")


def _fail(message: str) -> NoReturn:
    typer.echo(f"factstream serve: {message}", err=True)
    raise typer.Exit(2)


@dataclass(frozen=True, slots=True)
class _Orders:
    """What ``--orders`` asks for."""

    broker_url: str
    redis_url: str | None


def _import_orders() -> tuple[Any, Any]:
    """``examples.orders.compose`` and ``examples.orders.http``, from the source checkout."""
    try:
        from examples.orders import compose, http
    except ImportError:
        checkout = pathlib.Path(__file__).resolve().parents[3]
        if not (checkout / "examples" / "orders" / "http.py").exists():
            _fail(
                "--orders serves examples/orders from a source checkout: clone the repository "
                "and run 'factstream serve --orders' there."
            )
        sys.path.insert(0, str(checkout))
        from examples.orders import compose, http
    return compose, http


async def _serve(
    settings: Any,
    url: str,
    with_metrics: bool,
    log_level: str,
    orders: _Orders | None = None,
    tracer_provider: Any = None,
) -> None:
    from ..http import create_app

    registry = None
    if with_metrics:
        try:
            from ..observability import Metrics

            registry = Metrics()
        except ImportError:
            typer.echo("metrics are off: pip install 'factstream[metrics]'", err=True)
    async with contextlib.AsyncExitStack() as stack:
        store: Any
        if orders is None:
            store = await stack.enter_async_context(connect(url))
            if registry is not None:
                from ..observability import InstrumentedEventStore

                store = InstrumentedEventStore(store, registry)
            if tracer_provider is not None:
                from ..observability import TracingEventStore

                store = TracingEventStore(store, tracer_provider)
            make_app: Callable[..., Any] = functools.partial(
                create_app, settings, tracer_provider=tracer_provider
            )
        else:
            compose, orders_http = _import_orders()
            options = compose.OrdersSettings(
                store_url=url, broker_url=orders.broker_url, redis_url=orders.redis_url
            )
            try:
                # The system wraps its store itself, so the command handlers' appends, the
                # saga's and the runners' reads all reach /metrics.
                system = await compose.OrdersSystem.open(
                    options, metrics=registry, tracer_provider=tracer_provider
                )
            except (FactstreamError, OSError, TimeoutError) as exc:
                _fail(f"the orders system did not start: {type(exc).__name__}: {exc}")
            stack.push_async_callback(system.close)
            store = system.store
            make_app = functools.partial(
                orders_http.create_orders_app, settings, system, tracer_provider=tracer_provider
            )
        what = "the orders system on " if orders is not None else ""
        await _run(make_app(store=store, metrics=registry), settings, f"{what}{url}", log_level)


async def _run(app: Any, settings: Any, what: str, log_level: str) -> None:
    import uvicorn

    from ..observability.logging import configured_json

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        # With --log-format json, uvicorn's records go to that handler as JSON too.
        log_config=None if configured_json() else uvicorn.config.LOGGING_CONFIG,
        lifespan="on",
        # Live feeds never finish by themselves: give them a moment, then end them.
        timeout_graceful_shutdown=3,
        server_header=False,
    )
    typer.echo(
        f"factstream serving {what} on http://{settings.host}:{settings.port} "
        f"(console: /console, OpenAPI: /schema/openapi.json)",
        err=True,
    )
    await _server_class(uvicorn.Server)(config).serve()


def _server_class(base: Any) -> Any:
    class Server(base):  # type: ignore[misc]
        """uvicorn's server, but SIGINT and SIGTERM end it cleanly: the store is closed and
        the exit code is 0 (uvicorn re-raises the signal after shutting down)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.handle_exit, sig, None)
            try:
                yield
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    return Server
