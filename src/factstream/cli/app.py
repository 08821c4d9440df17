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
    log_format: str | None = typer.Option(
        None,
        "--log-format",
        envvar="FACTSTREAM_LOG_FORMAT",
        help="Log records as 'text' or 'json' lines on stderr, with the correlation and "
        "causation ids of the command or event being handled.",
    ),
    log_level: str | None = typer.Option(
        None,
        "--log-level",
        envvar="FACTSTREAM_LOG_LEVEL",
        help="debug, info, warning (the default with --log-format), error.",
    ),
) -> None:
    """factstream: event sourcing and CQRS for asyncio."""
    if log_format is None and log_level is None:
        return  # Python's default: warnings and errors, as plain text
    from ..observability.logging import configure

    if log_format not in (None, "text", "json"):
        raise typer.BadParameter(
            f"{log_format!r} is not a log format: use text or json", param_hint="--log-format"
        )
    try:
        configure(json=log_format == "json", level=log_level or "WARNING")
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--log-level") from exc


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
