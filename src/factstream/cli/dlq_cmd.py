"""``factstream dlq``: list, show, retry and skip a projection's parked events."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..projections import DeadLetters
from ..projections.targets import target_from_url

dlq = typer.Typer(help="Dead letters: events a projection parked after its handler failed.")

TargetOption = Annotated[
    str,
    typer.Option(
        "--target",
        "-t",
        help=(
            "The read models' database: sqlite:///rm.db, postgresql://user@host/db?schema=NAME "
            "or redis://host:6379/0?prefix=P."
        ),
    ),
]
ProjectionArgument = Annotated[str, typer.Argument(help="The projection's name.")]


def register(app: typer.Typer) -> None:
    app.add_typer(dlq, name="dlq")


def _letters(target: str, projection: str) -> DeadLetters:
    return DeadLetters(target_from_url(target), projection)


@dlq.command("list")
def list_(
    projection: ProjectionArgument,
    target: TargetOption,
    stream: Annotated[
        str | None, typer.Option(help="List this stream's parked events one by one.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
) -> None:
    """The parked streams (or one stream's parked events)."""

    async def run() -> None:
        console = Console()
        async with _letters(target, projection) as letters:
            if stream is None:
                table = Table("stream", "parked", "from position", "error")
                for parked in await letters.streams():
                    table.add_row(
                        parked.stream_id,
                        str(parked.count),
                        str(parked.first_position),
                        (parked.error or "").splitlines()[-1:][0] if parked.error else "",
                    )
                console.print(table)
                return
            table = Table("position", "type", "version", "attempts", "error")
            for letter in await letters.list(stream, limit):
                table.add_row(
                    str(letter.position),
                    letter.event.type,
                    str(letter.event.version),
                    str(letter.attempts),
                    letter.error or "(waits behind an earlier event)",
                )
            console.print(table)

    asyncio.run(run())


@dlq.command("show")
def show(projection: ProjectionArgument, position: int, target: TargetOption) -> None:
    """One parked event: the event, its error and attempts."""

    async def run() -> None:
        async with _letters(target, projection) as letters:
            letter = await letters.show(position)
        if letter is None:
            typer.echo(f"no parked event at position {position}", err=True)
            raise typer.Exit(1)
        event = letter.event
        document = {
            "position": event.position,
            "stream_id": event.stream_id,
            "version": event.version,
            "type": event.type,
            "id": str(event.id),
            "timestamp": event.timestamp.isoformat(),
            "data": event.data,
            "metadata": event.metadata,
            "attempts": letter.attempts,
            "parked_at": letter.parked_at.isoformat(),
            "retry_requested": letter.retry_requested,
            "error": letter.error,
        }
        typer.echo(json.dumps(document, indent=2, default=str))

    asyncio.run(run())


@dlq.command("retry")
def retry(
    projection: ProjectionArgument,
    target: TargetOption,
    stream: Annotated[str | None, typer.Argument(help="The stream to retry.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retry every parked stream.")] = False,
) -> None:
    """Ask the projection's runner to replay a stream's parked events, in order."""
    if (stream is None) == (not all_):
        raise typer.BadParameter("give a STREAM or --all (not both)")

    async def run() -> int:
        async with _letters(target, projection) as letters:
            return await (letters.retry_all() if all_ else letters.retry(stream or ""))

    count = asyncio.run(run())
    typer.echo(f"{count} parked event(s) marked for retry; the running runner replays them.")


@dlq.command("skip")
def skip(projection: ProjectionArgument, position: int, target: TargetOption) -> None:
    """Drop one parked event without applying it."""

    async def run() -> bool:
        async with _letters(target, projection) as letters:
            return await letters.skip(position)

    if not asyncio.run(run()):
        typer.echo(f"no parked event at position {position}", err=True)
        raise typer.Exit(1)
    typer.echo(f"skipped the event at position {position}")
