"""``factstream projections``: the status of read models and their runners, rebuilds and
resets."""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..projections.generations import drop_projection
from ..projections.heartbeats import ProjectionStatus, projection_status
from ..projections.readmodels.sql import SqlTarget
from ..projections.rebuild import rebuild
from ..projections.runner import ProjectionRunner
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
            help=(
                "The read models' database (sqlite:///rm.db, postgresql://...?schema=NAME, "
                "redis://...?prefix=P)."
            ),
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
                f"partitions {','.join(map(str, runner.partitions)) or '-'} "
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


def load_projection(spec: str) -> Any:
    """Import ``module:Class`` (or ``module:factory``) and call it with no arguments."""
    return load_class(spec)()


def load_class(spec: str) -> Any:
    """Import ``module:Class`` (or ``module:attribute``)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise typer.BadParameter(f"{spec!r}: use module.path:ClassName")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise typer.BadParameter(f"{spec!r}: {exc}") from exc
    return found


ProjectionOption = Annotated[
    str, typer.Option("--projection", "-p", help="The projection class, as module.path:Class.")
]
TargetOption = Annotated[
    str,
    typer.Option(
        "--target", "-t", help="The read model's database (sqlite:///, postgresql://, redis://)."
    ),
]


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@projections.command("rebuild")
def rebuild_command(
    projection: ProjectionOption,
    target: TargetOption,
    store: Annotated[str, typer.Option("--store", "-s", help="The event store's URL.")],
    batch_size: Annotated[int, typer.Option(help="Events per transaction.")] = 1000,
    keep_old: Annotated[
        bool, typer.Option("--keep-old", help="Keep the old generation's tables (retired).")
    ] = False,
) -> None:
    """Build a projection's read model again from position 1 in shadow tables while the
    current one keeps serving, then swap it in atomically (SQL read models).

    A Redis read model has no shadow: it is reset and caught up again (queries see it
    fill up).
    """
    instance = load_projection(projection)
    read_model = target_from_url(target)
    console = Console()

    async def run(progress: Progress) -> str:
        task = progress.add_task(f"rebuilding {instance.name}", total=None, rate="")
        started = time.monotonic()

        def report(position: int, head: int) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            progress.update(
                task, completed=position, total=head, rate=f"{position / elapsed:,.0f} ev/s"
            )

        async with connect(store) as opened:
            if isinstance(read_model, SqlTarget):
                number = await rebuild(
                    opened,
                    instance,
                    read_model,
                    batch_size=batch_size,
                    on_progress=report,
                    drop_old=not keep_old,
                )
                return f"generation {number} of {instance.name} is active"
            await read_model.reset(instance.name)
            head = await opened.head_position()
            runner = ProjectionRunner(
                opened,
                instance,
                read_model,
                batch_size=batch_size,
                on_commit=lambda position: report(position, head),
            )
            reached = await runner.catch_up(head)
            report(reached, head)
            return f"{instance.name} rebuilt in Redis up to position {reached}"

    with _progress(console) as progress:
        message = asyncio.run(run(progress))
    console.print(message)


@projections.command("reset")
def reset_command(
    projection: Annotated[
        str, typer.Argument(help="The projection's name (or module.path:Class).")
    ],
    target: TargetOption,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a projection's read model (tables, views, checkpoints, dead letters). Its next
    runner builds it again from position 1."""
    name = load_projection(projection).name if ":" in projection else projection
    if not yes:
        typer.confirm(f"Delete the read model of {name} at {target}?", abort=True)
    read_model = target_from_url(target)

    async def run() -> str:
        if isinstance(read_model, SqlTarget):
            session = await read_model.connect()
            try:
                await session.migrate()
                dropped = await drop_projection(session, name)
            finally:
                await session.close()
            return f"{name}: {dropped} generation(s) dropped"
        deleted = await read_model.reset(name)
        return f"{name}: {deleted} Redis key(s) deleted"

    typer.echo(asyncio.run(run()))
