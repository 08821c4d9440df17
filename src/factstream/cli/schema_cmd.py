"""``factstream schema``: export, check and document the event contracts of a registry."""

from __future__ import annotations

import importlib
import json
import pathlib
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..schema import EventRegistry, check_compatibility, export_schemas, render_markdown
from ..schema.jsonschema import dumps, event_schema

schema_app = typer.Typer(
    name="schema",
    help="Event contracts: JSON Schema export, compatibility check, Markdown docs.",
    no_args_is_help=True,
)

Module = Annotated[
    str,
    typer.Option(
        "--module",
        "-m",
        help="Where the registry is: 'package.module:attribute' (an EventRegistry or a factory).",
    ),
]
AppDir = Annotated[
    str, typer.Option(help="Folder added to the import path first (default: the current folder).")
]
Output = Annotated[
    pathlib.Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(schema_app)


def load_registry(spec: str, app_dir: str = ".") -> EventRegistry:
    """Import ``module:attribute`` and return the registry it names (calling a factory).

    Raises:
        typer.BadParameter: the spec is malformed or does not name a registry.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise typer.BadParameter(f"{spec!r}: use the form 'package.module:registry'")
    folder = str(pathlib.Path(app_dir).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise typer.BadParameter(f"cannot import {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise typer.BadParameter(f"{module_name!r} has no attribute {attribute!r}") from None
    if callable(target) and not isinstance(target, (EventRegistry, type)):
        target = target()
    if not isinstance(target, EventRegistry):
        raise typer.BadParameter(f"{spec!r} is a {type(target).__name__}, not an EventRegistry")
    return target


def _write(text: str, output: pathlib.Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


@schema_app.command("export")
def export(
    module: Module,
    output: Output = None,
    directory: Annotated[
        pathlib.Path | None,
        typer.Option("--dir", help="Also write one '<Type>.v<N>.schema.json' per type here."),
    ] = None,
    app_dir: AppDir = ".",
) -> None:
    """Write the JSON Schema of every registered event type, with versions."""
    registry = load_registry(module, app_dir)
    _write(dumps(export_schemas(registry)), output)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        for entry in registry:
            path = directory / f"{entry.name}.v{entry.version}.schema.json"
            path.write_text(dumps(event_schema(entry)), encoding="utf-8")


@schema_app.command("check")
def check(
    module: Module,
    against: Annotated[
        pathlib.Path,
        typer.Option(help="A committed export to compare with.", exists=True, dir_okay=False),
    ],
    app_dir: AppDir = ".",
) -> None:
    """Compare the registry with a committed export; exit 1 on a breaking change."""
    registry = load_registry(module, app_dir)
    try:
        old = json.loads(against.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{against} is not JSON: {exc}") from exc
    report = check_compatibility(old, export_schemas(registry))
    console = Console(width=120)
    if report.changes:
        table = Table(title=f"changes against {against}")
        for column in ("event", "field", "change", "verdict", "detail"):
            table.add_column(column)
        for change in report.changes:
            verdict = "[red]breaking[/]" if change.breaking else "[green]safe[/]"
            table.add_row(change.event, change.path, change.kind, verdict, change.detail)
        console.print(table)
    if report.ok:
        console.print(f"[green]compatible[/]: {len(report.changes)} safe change(s)")
        return
    console.print(f"[red]incompatible[/]: {len(report.breaking)} breaking change(s)")
    raise typer.Exit(1)


@schema_app.command("docs")
def docs(
    module: Module,
    output: Output = None,
    title: Annotated[str, typer.Option(help="The document's title.")] = "Event contracts",
    app_dir: AppDir = ".",
) -> None:
    """Write Markdown documentation of the event contracts."""
    _write(render_markdown(export_schemas(load_registry(module, app_dir)), title), output)


@schema_app.command("asyncapi")
def asyncapi(
    module: Module,
    output: Output = None,
    broker: Annotated[
        str, typer.Option(help="The relay's broker: 'nats' (subjects) or 'redis' (stream keys).")
    ] = "nats",
    prefix: Annotated[str, typer.Option(help="The relay's subject or key prefix.")] = "factstream",
    partitions: Annotated[int, typer.Option(min=1, help="The relay's partition count.")] = 8,
    title: Annotated[str, typer.Option(help="The document's title.")] = "factstream events",
    app_dir: AppDir = ".",
) -> None:
    """Write the AsyncAPI 3 document of the relay's channels and message schemas."""
    from ..streaming.asyncapi import asyncapi_document

    if broker not in ("nats", "redis"):
        raise typer.BadParameter(f"broker must be 'nats' or 'redis', got {broker!r}")
    document = asyncapi_document(
        load_registry(module, app_dir),
        broker=broker,
        prefix=prefix,
        partitions=partitions,
        title=title,
    )
    _write(json.dumps(document, indent=2, sort_keys=True) + "\n", output)
