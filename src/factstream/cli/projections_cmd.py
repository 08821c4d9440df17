"""``factstream projections``: the status of read models and their runners."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..projections.heartbeats import ProjectionStatus, projection_status
from ..projections.targets import target_from_url
from ..store import connect

projections = typer.Typer(help="Projections: read models, their runners and rebuilds.")


def register(app: typer.Typer) -> None:
    app.add_typer(projections, name="projections")


@projections.command("status")
def status(
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-t",
            help="The read models' database (sqlite:///rm.db, postgresql://...?schema=NAME).",
        ),
    ],
    store: Annotated[
        str | None, typer.Option(help="The event store's URL, to show the lag behind the log.")
    ] = None,
    stuck_after: Annotated[
        float, typer.Option(help="Seconds without progress, while behind, that mean stuck.")
    ] = 60.0,
    all_runners: Annotated[
        bool, typer.Option("--all", help="Also list runners that stopped cleanly.")
    ] = False,
) -> None:
    """Each projection's generation, checkpoint, lag, parked events and runners.

    Exits with status 1 when a runner is dead, stuck or failed.
    """

    async def run() -> list[ProjectionStatus]:
        head = None
        if store is not None:
            async with connect(store) as opened:
                head = await opened.head_position()
        return list(
            await projection_status(
                target_from_url(target),
                head,
                stuck_after=stuck_after,
                include_stopped=all_runners,
            )
        )

    found = asyncio.run(run())
    console = Console()
    table = Table(
        "projection", "generation", "version", "position", "lag", "parked", "building", "runners"
    )
    unhealthy = False
    for item in found:
        runners = []
        for runner in item.runners:
            unhealthy |= runner.state in ("dead", "stuck", "failed")
            colour = {"running": "green", "stopped": "dim"}.get(runner.state, "red")
            runners.append(
                f"[{colour}]{runner.state}[/] {runner.host}:{runner.pid} at {runner.position} "
                f"(beat {runner.heartbeat_age:.1f}s ago)"
            )
        table.add_row(
            item.name,
            str(item.generation),
            str(item.version),
            str(item.position),
            "?" if item.lag is None else str(item.lag),
            str(item.parked),
            ", ".join(f"g{g} at {p}" for g, p in item.building.items()) or "-",
            "\n".join(runners) or "-",
        )
    console.print(table)
    if unhealthy:
        raise typer.Exit(1)
