"""``factstream serve``: the HTTP API, live feed, metrics, health and web console."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from typing import Any, NoReturn

import typer

from .. import connect


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
) -> None:
    """Serve the HTTP API and the web console over a store."""
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
    asyncio.run(_serve(settings, store, metrics, log_level))


def _fail(message: str) -> NoReturn:
    typer.echo(f"factstream serve: {message}", err=True)
    raise typer.Exit(2)


async def _serve(settings: Any, url: str, with_metrics: bool, log_level: str) -> None:
    import uvicorn

    from ..http import create_app

    async with connect(url) as inner:
        store: Any = inner
        registry = None
        if with_metrics:
            try:
                from ..observability import InstrumentedEventStore, Metrics

                registry = Metrics()
            except ImportError:
                typer.echo("metrics are off: pip install 'factstream[metrics]'", err=True)
            else:
                store = InstrumentedEventStore(inner, registry)
        app = create_app(settings, store, metrics=registry)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            lifespan="on",
            # Live feeds never finish by themselves: give them a moment, then end them.
            timeout_graceful_shutdown=3,
            server_header=False,
        )
        typer.echo(
            f"factstream serving {url} on http://{settings.host}:{settings.port} "
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
