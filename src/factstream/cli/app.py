"""The Typer application. Each command group lives in its own module and is registered here."""

from __future__ import annotations

import typer

from .. import __version__

app = typer.Typer(
    name="factstream",
    help="factstream: event sourcing and CQRS for asyncio.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"factstream {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """factstream: event sourcing and CQRS for asyncio."""


def _register() -> None:
    # Command groups register themselves; import order is the help order.
    from . import (
        bench_cmd,
        db_cmd,
        demo_cmd,
        dlq_cmd,
        projections_cmd,
        replay_cmd,
        schema_cmd,
        serve_cmd,
        streaming_cmd,
        streams_cmd,
    )

    demo_cmd.register(app)
    serve_cmd.register(app)
    streams_cmd.register(app)
    db_cmd.register(app)
    schema_cmd.register(app)
    projections_cmd.register(app)
    dlq_cmd.register(app)
    replay_cmd.register(app)
    streaming_cmd.register(app)
    bench_cmd.register(app)


_register()
