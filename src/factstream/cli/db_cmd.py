"""``factstream db``: database chores (``db migrate URL``)."""

from __future__ import annotations

import asyncio

import typer

from ..events import FactstreamError

db = typer.Typer(help="Create and migrate the PostgreSQL schema of a store.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db, name="db")


@db.command("migrate")
def migrate(
    url: str = typer.Argument(..., help="postgresql://user@host:port/db[?schema=NAME]"),
    schema: str | None = typer.Option(
        None,
        "--schema",
        help="The schema to create or upgrade (default: the URL's, or factstream).",
    ),
) -> None:
    """Create the store's schema or bring it up to date. Safe to run from several places at once."""
    try:
        version, name = asyncio.run(_migrate(url, schema))
    except ImportError as exc:
        typer.echo(
            f"factstream db migrate needs the 'postgres' extra ({exc.name} is missing)", err=True
        )
        raise typer.Exit(2) from exc
    except (OSError, FactstreamError, RuntimeError) as exc:
        typer.echo(f"factstream db migrate: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"schema {name!r} is at version {version}")


async def _migrate(url: str, schema: str | None) -> tuple[int, str]:
    from ..store.postgres import migrate as run_migrations
    from ..store.postgres.connection import open_connection, settings_from_url

    settings = settings_from_url(url, **({"schema": schema} if schema else {}))
    conn = await open_connection(settings, "migrate")
    try:
        return await run_migrations(conn, settings.schema), settings.schema
    finally:
        await conn.close()
