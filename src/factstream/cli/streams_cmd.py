"""``factstream streams list|show|tail`` and ``factstream events show``: reading the log.

Every command takes ``--json`` for scripts. Exit codes: 0 done, 1 not found, 2 bad usage or
an unusable store.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar
from urllib.parse import unquote, urlsplit

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from .. import FactstreamError, RecordedEvent, connect
from ..store.base import EventStore

T = TypeVar("T")
NOT_FOUND = 1
USAGE = 2

streams_app = typer.Typer(help="Browse streams.", no_args_is_help=True)
events_app = typer.Typer(help="Look at single events.", no_args_is_help=True)

StoreOption = typer.Option(
    "sqlite:///factstream.db", "--store", envvar="FACTSTREAM_STORE", help="The store URL."
)
JsonOption = typer.Option(False, "--json", help="Print JSON for scripts.")


def register(app: typer.Typer) -> None:
    app.add_typer(streams_app, name="streams")
    app.add_typer(events_app, name="events")


def _fail(message: str, code: int = USAGE) -> NoReturn:
    typer.echo(f"factstream: {message}", err=True)
    raise typer.Exit(code)


def _check_exists(url: str) -> None:
    # Reading commands must not create an empty SQLite file by mistake.
    parts = urlsplit(url)
    if parts.scheme.lower() == "sqlite" and not parts.netloc:
        path = unquote(parts.path)
        path = path[1:] if path.startswith("/") else path
        if path and not os.path.exists(path):
            _fail(f"there is no store at {path!r}; pass --store URL (or set FACTSTREAM_STORE)")


def _run(url: str, work: Callable[[EventStore], Awaitable[T]]) -> T:
    _check_exists(url)

    async def main() -> T:
        async with connect(url) as store:
            return await work(store)

    try:
        return asyncio.run(main())
    except FactstreamError as exc:
        _fail(str(exc))


def _print_json(value: Any) -> None:
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")


def _event_table(events: list[RecordedEvent], title: str) -> Table:
    table = Table(title=title)
    for column in ("position", "stream", "version", "type", "recorded", "data"):
        table.add_column(column, overflow="fold")
    for event in events:
        data = msgspec.json.encode(event.data).decode()
        table.add_row(
            str(event.position),
            event.stream_id,
            str(event.version),
            event.type,
            event.timestamp.isoformat(timespec="seconds"),
            data if len(data) <= 80 else data[:77] + "...",
        )
    return table


@streams_app.command("list")
def list_streams(
    store: str = StoreOption,
    prefix: str | None = typer.Option(None, help="Only ids starting with this."),
    after: str | None = typer.Option(None, help="Start after this id (the previous page's last)."),
    limit: int = typer.Option(100, min=1, max=10_000, help="How many streams."),
    as_json: bool = JsonOption,
) -> None:
    """List streams in id order, with their version and newest event."""

    async def work(opened: EventStore) -> Any:
        return await opened.list_streams(prefix, after, limit)

    streams = _run(store, work)
    next_after = streams[-1].stream_id if len(streams) == limit else None
    if as_json:
        _print_json({"streams": streams, "next_after": next_after})
        return
    table = Table(title=f"streams in {store}")
    table.add_column("stream")
    table.add_column("version", justify="right")
    table.add_column("last position", justify="right")
    table.add_column("last event at")
    for info in streams:
        table.add_row(
            info.stream_id,
            str(info.version),
            str(info.last_position),
            info.last_recorded_at.isoformat(timespec="seconds"),
        )
    console = Console()
    console.print(table)
    if next_after is not None:
        console.print(f"more: factstream streams list --after {next_after!r}")


@streams_app.command("show")
def show_stream(
    stream_id: str = typer.Argument(..., help="The stream id."),
    store: str = StoreOption,
    from_version: int | None = typer.Option(None, min=1, help="First version to show."),
    limit: int = typer.Option(100, min=1, help="How many events."),
    backwards: bool = typer.Option(False, help="Newest first."),
    as_json: bool = JsonOption,
) -> None:
    """Show a stream's events."""

    async def work(opened: EventStore) -> list[RecordedEvent]:
        return await opened.read(stream_id, from_version, limit, backwards)

    events = _run(store, work)
    if not events and from_version is None:
        _fail(f"there is no stream {stream_id!r} (see: factstream streams list)", NOT_FOUND)
    if as_json:
        _print_json({"stream_id": stream_id, "events": events})
        return
    Console().print(_event_table(events, f"stream {stream_id}"))


@streams_app.command("tail")
def tail(
    stream_id: str | None = typer.Argument(None, help="Only this stream (default: all)."),
    store: str = StoreOption,
    from_position: int | None = typer.Option(
        None, "--from", min=1, help="Start at this position (default: new events only)."
    ),
    count: int | None = typer.Option(None, min=1, help="Stop after this many events."),
    as_json: bool = JsonOption,
) -> None:
    """Follow the log (or one stream) live; Ctrl-C stops."""
    console = Console()

    async def work(opened: EventStore) -> int:
        start = from_position or await opened.head_position() + 1
        seen = 0
        async with opened.subscribe(start, stream_id) as events:
            async for event in events:
                if as_json:
                    _print_json(event)
                    sys.stdout.flush()
                else:
                    data = msgspec.json.encode(event.data).decode()
                    console.print(
                        f"[dim]{event.position:>8}[/] [cyan]{event.stream_id}[/]"
                        f"@{event.version} [bold]{event.type}[/] {data}",
                        highlight=False,
                        soft_wrap=True,
                    )
                seen += 1
                if count is not None and seen >= count:
                    break
        return seen

    try:
        _run(store, work)
    except KeyboardInterrupt:
        pass


@events_app.command("show")
def show_event(
    position: int = typer.Argument(..., min=1, help="The event's global position."),
    store: str = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Show one event with its data and metadata."""

    async def work(opened: EventStore) -> RecordedEvent | None:
        return await opened.event_at(position)

    event = _run(store, work)
    if event is None:
        _fail(f"there is no event at position {position}", NOT_FOUND)
    if as_json:
        _print_json(event)
        return
    table = Table(title=f"event {position}", show_header=False)
    table.add_column("field", style="dim")
    table.add_column("value", overflow="fold")
    for name in msgspec.structs.fields(event):
        value = getattr(event, name.name)
        if isinstance(value, dict):
            value = msgspec.json.format(msgspec.json.encode(value)).decode()
        table.add_row(name.name, str(value))
    Console().print(table)
