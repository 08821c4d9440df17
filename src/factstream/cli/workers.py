"""What every long-running worker command shares: its Prometheus endpoint (``--metrics-port``)
and a clean stop on SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from ..observability import Metrics
    from ..observability.metrics import MetricsServer

__all__ = ["MetricsHost", "MetricsPort", "run_until_stopped", "serve_metrics"]

MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=0,
        max=65535,
        help="Serve this process's Prometheus metrics at http://HOST:PORT/metrics "
        "(0: any free port, printed at start).",
    ),
]
MetricsHost = Annotated[
    str, typer.Option("--metrics-host", help="The address --metrics-port binds.")
]


def _fail(command: str, message: str) -> NoReturn:
    typer.echo(f"factstream {command}: {message}", err=True)
    raise typer.Exit(2)


def serve_metrics(command: str, port: int, host: str) -> tuple[Metrics, MetricsServer]:
    """A private registry served on ``host:port``; exits with a clear message (status 2) when
    the ``metrics`` extra is missing or the address cannot be bound."""
    try:
        from ..observability import Metrics
    except ImportError:  # pragma: no cover - depends on the install
        _fail(
            command, "--metrics-port needs the 'metrics' extra: pip install 'factstream[metrics]'"
        )
    try:
        metrics = Metrics()
    except ImportError as exc:  # pragma: no cover - depends on the install
        _fail(command, str(exc))
    try:
        server = metrics.serve(port, host)
    except OSError as exc:
        _fail(command, f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}")
    typer.echo(f"factstream {command}: metrics at http://{host}:{server.port}/metrics", err=True)
    return metrics, server


def run_until_stopped(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` until it ends or SIGINT / SIGTERM arrives; then cancel it, so its ``finally``
    blocks run (a last heartbeat says "stopped", not dead), and return normally (exit 0)."""

    async def main() -> None:
        task = asyncio.ensure_future(work)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    asyncio.run(main())
