"""``factstream replay``: run a projection over the log (or a slice) into a scratch read
model and compare it with the live one."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..projections.process import ProcessManager, RecordingDispatcher
from ..projections.replay import EventSlice, ReadModelDiff, compare, drop_generation, replay
from ..projections.targets import sql_target_from_url
from ..store import connect
from .projections_cmd import ProjectionOption, TargetOption, load_class


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)


def _time(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    when = dt.datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def replay_command(
    projection: ProjectionOption,
    store: Annotated[str, typer.Option("--store", "-s", help="The event store to read.")],
    target: TargetOption,
    from_position: Annotated[int, typer.Option(help="First position (included).")] = 1,
    to_position: Annotated[int | None, typer.Option(help="Last position (included).")] = None,
    since: Annotated[
        str | None, typer.Option(help="Events committed at or after (ISO 8601, UTC default).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Events committed before (ISO 8601).")] = None,
    stream: Annotated[str | None, typer.Option(help="One stream's events only.")] = None,
    batch_size: Annotated[int, typer.Option(help="Events per transaction.")] = 1000,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the scratch generation (its tables) after.")
    ] = False,
    fail_on_diff: Annotated[
        bool, typer.Option("--fail-on-diff", help="Exit with status 1 when the results differ.")
    ] = False,
) -> None:
    """Replay the log, or a slice of it, through a projection (or a process manager, whose
    commands are recorded, not sent) into a scratch generation of its read model, and show
    the row-level differences with the live read model."""
    cls = load_class(projection)
    recorder = RecordingDispatcher()
    instance: Any = (
        cls(recorder) if isinstance(cls, type) and issubclass(cls, ProcessManager) else cls()
    )
    read_model = sql_target_from_url(target)
    selection = EventSlice(from_position, to_position, _time(since), _time(until), stream)

    async def run() -> tuple[int, ReadModelDiff]:
        async with connect(store) as opened:
            result = await replay(opened, instance, read_model, selection, batch_size=batch_size)
        try:
            return result.events, await compare(read_model, instance.name, result.generation)
        finally:
            if not keep:
                await drop_generation(read_model, instance.name, result.generation)

    events, diff = asyncio.run(run())
    console = Console()
    console.print(
        f"replayed {events} event(s) of {instance.name} into generation "
        f"{diff.replay_generation}"
        + ("" if keep else " (dropped after the comparison)")
        + f"; live generation: {diff.live_generation or 'none'}"
    )
    if isinstance(instance, ProcessManager):
        console.print(f"{len(recorder.sent)} command(s) would be sent")
    table = Table("table", "live rows", "replay rows", "only live", "only replay", "changed")
    for item in diff.tables:
        table.add_row(
            item.table,
            str(item.live_rows),
            str(item.replay_rows),
            str(item.only_live),
            str(item.only_replay),
            str(item.changed),
        )
    console.print(table)
    for item in diff.tables:
        for key, live, replayed in item.samples:
            console.print(f"{item.table} {key!r}: live {live!r} / replay {replayed!r}")
    console.print("same" if diff.same else "different")
    if fail_on_diff and not diff.same:
        raise typer.Exit(1)
