"""``factstream streaming``: run a relay, show relays' and members' status, list, replay and skip
a consumer group's dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..store.base import EventStore
from ..store.connect import connect
from ..streaming import DeadLetters, Relay, RelaySettings, open_broker, open_streaming_state
from ..streaming.heartbeats import UNHEALTHY, ComponentStatus, component_status, relay_heartbeat
from .workers import MetricsHost, MetricsPort, run_until_stopped, serve_metrics

streaming = typer.Typer(
    help="Relay the log to a broker; manage dead letters.", no_args_is_help=True
)
dead_letters = typer.Typer(help="A consumer group's dead letters.", no_args_is_help=True)
streaming.add_typer(dead_letters, name="dead-letters")

Broker = Annotated[
    str, typer.Option("--broker", help="nats://host:port, redis://host:port/db or memory://")
]
Group = Annotated[str, typer.Option("--group", help="The consumer group.")]
State = Annotated[
    str, typer.Option("--state", help="The store's URL (where marks and leases live).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(streaming, name="streaming")


@streaming.command("relay")
def relay(
    store: Annotated[str, typer.Option("--store", help="The event store URL.")],
    broker: Broker,
    name: Annotated[str, typer.Option(help="Relay name (checkpoint and lease).")] = "default",
    partitions: Annotated[int, typer.Option(min=1, help="Partitions on the broker.")] = 8,
    prefix: Annotated[str, typer.Option(help="Subject / key prefix.")] = "factstream",
    heartbeat_interval: Annotated[
        float,
        typer.Option(
            min=0.01,
            max=600,
            help="Seconds between heartbeats in the streaming state; three missed make the "
            "relay dead (factstream_heartbeat_age_seconds, readiness).",
        ),
    ] = 1.0,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = "127.0.0.1",
) -> None:
    """Publish the store's log to the broker until interrupted (standby if another is active).

    With --metrics-port it serves Prometheus metrics: its reads of the store, and the heartbeat
    age and lag of every relay and consumer member beating in the store's database (a stopped
    peer's age keeps growing here)."""
    metrics = None
    server = None
    if metrics_port is not None:
        metrics, server = serve_metrics("streaming relay", metrics_port, metrics_host)

    async def run() -> None:
        async with connect(store) as opened:
            source: EventStore = opened
            if metrics is not None:
                from ..observability import InstrumentedEventStore

                source = InstrumentedEventStore(opened, metrics)
            state = await open_streaming_state(store)
            bus = await open_broker(broker, partitions=partitions, prefix=prefix)
            publisher = Relay(source, bus, state, RelaySettings(name=name))
            try:
                async with contextlib.AsyncExitStack() as stack:
                    await stack.enter_async_context(
                        relay_heartbeat(publisher, interval=heartbeat_interval)
                    )
                    if metrics is not None:
                        from ..observability.streaming import StreamingMetrics

                        exporter = StreamingMetrics(metrics, state, source)
                        refresher = asyncio.create_task(exporter.run(heartbeat_interval))
                        stack.callback(refresher.cancel)
                    await publisher.run()
            finally:
                await bus.close()
                await state.close()

    try:
        run_until_stopped(run())
    finally:
        if server is not None:
            server.close()


@streaming.command("status")
def status(
    store: Annotated[
        str, typer.Option("--store", help="The event store URL (its streaming state).")
    ],
    stuck_after: Annotated[
        float, typer.Option(help="Seconds without progress, while behind, that mean stuck.")
    ] = 60.0,
    all_components: Annotated[
        bool, typer.Option("--all", help="Also list the ones that stopped cleanly.")
    ] = False,
) -> None:
    """Relays and consumer-group members from their heartbeats: state, position, lag.

    Exits with status 1 when one is dead, stuck or failed.
    """

    async def run() -> list[ComponentStatus]:
        async with connect(store) as opened:
            state = await open_streaming_state(store)
            try:
                return await component_status(
                    state,
                    head=await opened.head_position(),
                    stuck_after=stuck_after,
                    include_stopped=all_components,
                )
            finally:
                await state.close()

    found = asyncio.run(run())
    table = Table("component", "name", "member", "state", "where", "position", "lag", "beat")
    for item in found:
        colour = {"running": "green", "standby": "cyan", "stopped": "dim"}.get(item.state, "red")
        table.add_row(
            item.component,
            item.name,
            item.member,
            f"[{colour}]{item.state}[/]",
            f"{item.host}:{item.pid}",
            str(item.position),
            "-" if item.lag is None else str(item.lag),
            f"{item.heartbeat_age:.1f}s ago",
        )
    Console().print(table)
    if any(item.state in UNHEALTHY for item in found):
        raise typer.Exit(1)


@dead_letters.command("list")
def list_letters(
    broker: Broker,
    group: Group,
    limit: Annotated[int, typer.Option(min=1)] = 100,
    prefix: Annotated[str, typer.Option(help="Subject / key prefix.")] = "factstream",
) -> None:
    """Show the oldest dead letters of a group."""

    async def run() -> None:
        bus = await open_broker(broker, prefix=prefix)
        try:
            letters = await bus.dead_letters(group, limit)
        finally:
            await bus.close()
        table = Table(title=f"dead letters of {group}")
        for column in ("id", "stream", "version", "type", "attempts", "failed at", "error"):
            table.add_column(column, overflow="fold")
        for letter in letters:
            headers = letter.headers
            table.add_row(
                letter.id,
                headers.get("ce-fsstream", "?"),
                headers.get("ce-fsversion", "?"),
                headers.get("ce-type", "?"),
                str(letter.delivery_count),
                letter.failed_at.isoformat(timespec="seconds"),
                letter.error,
            )
        Console().print(table)

    asyncio.run(run())


async def _tools(broker: str, state: str, group: str, prefix: str) -> DeadLetters:
    bus = await open_broker(broker, prefix=prefix)
    return DeadLetters(bus, await open_streaming_state(state), group)


async def _with_tools(
    broker: str,
    state: str,
    group: str,
    prefix: str,
    action: Callable[[DeadLetters], Awaitable[int]],
) -> int:
    """Open the group's dead-letter tools, run ``action``, close what was opened."""
    tools = await _tools(broker, state, group, prefix)
    try:
        return await action(tools)
    finally:
        await tools.broker.close()
        await tools.state.close()


@dead_letters.command("replay")
def replay(
    broker: Broker,
    state: State,
    group: Group,
    stream: Annotated[str | None, typer.Option(help="Only this stream (default: all).")] = None,
    prefix: Annotated[str, typer.Option(help="Subject / key prefix.")] = "factstream",
) -> None:
    """Unpark streams and publish their dead letters again for the group to apply."""
    count = asyncio.run(_with_tools(broker, state, group, prefix, lambda t: t.replay(stream)))
    typer.echo(f"replayed {count} dead letters")


@dead_letters.command("skip")
def skip(
    broker: Broker,
    state: State,
    group: Group,
    stream: Annotated[str, typer.Option(help="The parked stream to let go on.")],
    prefix: Annotated[str, typer.Option(help="Subject / key prefix.")] = "factstream",
) -> None:
    """Give up on a stream's dead letters: mark them applied, delete them, unpark the stream."""
    count = asyncio.run(_with_tools(broker, state, group, prefix, lambda t: t.skip(stream)))
    typer.echo(f"skipped {count} dead letters")
