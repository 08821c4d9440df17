"""``factstream demo``: the orders system (``examples/orders``) end to end.

Thousands of orders from a hundred customers are placed by concurrent command handlers while
projections follow live, the relay publishes the log to a broker and a consumer group runs the
fulfilment saga; reads check read-your-writes; then a replay rebuilds the read models and an
audit compares every derived state with the log. Exit status 1 when anything disagrees.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..events import FactstreamError

if TYPE_CHECKING:
    from examples.orders.compose import OrdersSystem

DEFAULT_FOLDER = pathlib.Path("factstream-demo")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    store: str | None = typer.Option(
        None,
        "--store",
        help="Event store URL (default: a fresh sqlite:///factstream-demo/events.db).",
    ),
    broker: str = typer.Option("memory://", "--broker", help="memory://, nats://..., redis://..."),
    redis: str | None = typer.Option(None, "--redis", help="A Redis for the get_order cache."),
    orders: int = typer.Option(2000, "--orders", min=1, help="Orders to place."),
    customers: int = typer.Option(100, "--customers", min=1, help="Customers placing them."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, help="Concurrent handlers."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON only."),
) -> None:
    """Run the orders system end to end and check it is consistent (exit 1 if not)."""
    examples = _import_examples()
    console = Console(stderr=as_json)
    if store is None:
        shutil.rmtree(DEFAULT_FOLDER, ignore_errors=True)  # the demo's own folder
        DEFAULT_FOLDER.mkdir()
        store = f"sqlite:///{DEFAULT_FOLDER / 'events.db'}"
    run = uuid.uuid4().hex[:10]
    own_broker_prefix = not broker.startswith("memory:") and "prefix=" not in broker
    if own_broker_prefix:
        # A broker of the run's own (streams / keys under a new prefix), removed at the end,
        # so demos on other stores never share, or leave behind, broker streams.
        broker += ("&" if "?" in broker else "?") + f"prefix=factstream_demo_{run}"
    settings = examples.OrdersSettings(
        store_url=store,
        broker_url=broker,
        redis_url=redis,
        redis_prefix=f"factstream:demo:{run}:",
        heartbeat_interval=None,
    )
    try:
        summary = asyncio.run(
            _run(settings, orders, customers, concurrency, console, own_broker_prefix)
        )
    except (FactstreamError, OSError, TimeoutError) as exc:
        console.print(f"[red]demo failed:[/] {type(exc).__name__}: {exc}")
        console.print("Check that the --store/--broker/--redis services are reachable.")
        raise typer.Exit(2) from exc
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    else:
        _print_summary(console, summary)
    if summary["problems"]:
        raise typer.Exit(1)


class _Examples:
    """The orders example's entry points, imported on demand."""

    def __init__(self) -> None:
        from examples.orders import audit, compose, projections, workload

        self.OrdersSettings = compose.OrdersSettings
        self.OrdersSystem = compose.OrdersSystem
        self.Workload = workload.Workload
        self.audit = audit.audit
        self.read_model_rows = audit.read_model_rows
        self.OrdersProjection = projections.OrdersProjection
        self.RevenuePerDay = projections.RevenuePerDay


def _import_examples() -> _Examples:
    # The example lives in the source checkout (examples/orders), beside src/.
    try:
        return _Examples()
    except ImportError:
        checkout = pathlib.Path(__file__).resolve().parents[3]
        if not (checkout / "examples" / "orders" / "compose.py").exists():
            typer.echo(
                "factstream demo runs examples/orders from a source checkout: clone the "
                "repository and run 'make demo' there.",
                err=True,
            )
            raise typer.Exit(2) from None
        sys.path.insert(0, str(checkout))
        return _Examples()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class _Lag:
    """Samples how far each component is behind the log's head."""

    def __init__(self, system: OrdersSystem) -> None:
        self.system = system
        self.max_projection = 0
        self.max_relay = 0
        self.samples: list[int] = []

    async def sample(self) -> tuple[int, int, int, int]:
        system = self.system
        head = await system.store.head_position()
        projection = min(system.orders_runner.position, system.revenue_runner.position)
        relay = head if system.relay is None else system.relay.status.acked_position
        self.max_projection = max(self.max_projection, head - projection)
        self.max_relay = max(self.max_relay, head - relay)
        self.samples.append(head - projection)
        return head, projection, relay, await system.saga_lag() or 0


@contextlib.contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    progress = Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with progress:
        yield progress


async def _run(
    settings: Any,
    orders: int,
    customers: int,
    concurrency: int,
    console: Console,
    destroy_broker: bool,
) -> dict[str, Any]:
    examples = _import_examples()
    console.rule(f"[bold]factstream demo[/]: the orders system on {settings.store_url}")
    console.print(
        f"{orders} orders from {customers} customers, {concurrency} concurrent handlers; "
        f"broker {settings.broker_url}; Redis cache {settings.redis_url or 'off'}"
    )
    began = time.perf_counter()
    async with await examples.OrdersSystem.open(settings) as system:
        start_head = await system.store.head_position()
        lag = _Lag(system)
        with _progress(console) as progress:
            placed = progress.add_task("orders placed", total=orders)
            projected = progress.add_task("read models", total=1)
            relayed = progress.add_task("relay to broker", total=1)
            saga = progress.add_task("saga (messages)", total=1)
            workload = examples.Workload(
                system.commands,
                system.queries,
                orders=orders,
                customers=customers,
                concurrency=concurrency,
                on_order=lambda: progress.advance(placed),
            )

            async def watch() -> None:
                while True:
                    head, projection, relay, saga_lag = await lag.sample()
                    progress.update(projected, completed=projection, total=head)
                    progress.update(relayed, completed=relay, total=head)
                    saga_done = system.group.status.handled if system.group else 0
                    progress.update(saga, completed=saga_done, total=saga_done + saga_lag)
                    await asyncio.sleep(0.1)

            watcher = asyncio.create_task(watch())
            try:
                await workload.stock_up()
                stats = await workload.run()
                settle_began = time.perf_counter()
                head = await system.settle(timeout=60)
                settle_seconds = time.perf_counter() - settle_began
                await lag.sample()
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            progress.update(projected, completed=head, total=head)
            progress.update(relayed, completed=head, total=head)
            handled = system.group.status.handled if system.group else 0
            progress.update(saga, completed=handled, total=handled)

        console.print("Auditing: replaying every order and stock aggregate against the read models")
        report = await examples.audit(system)
        before = await examples.read_model_rows(system)
        console.print("Replaying the log into new generations of both read models (rebuild)")
        rebuild_began = time.perf_counter()
        await system.rebuild(examples.OrdersProjection(system.registry))
        await system.rebuild(examples.RevenuePerDay(system.registry))
        rebuild_seconds = time.perf_counter() - rebuild_began
        after = await examples.read_model_rows(system)
        if destroy_broker and system.broker is not None:
            await system.broker.destroy()
        if system.cache is not None:
            await system.cache.clear()
        problems = list(report.problems)
        for table in before:
            if before[table] != after[table]:
                problems.append(f"the rebuilt {table} differs from the live one")
        problems.extend(stats.unexpected[:10])
        problems.extend(f"read your writes failed: {s}" for s in stats.stale_reads[:10])
        events = head - start_head
        seconds = stats.finished - stats.started
        commands = stats.commands + stats.refused.total()
        total_seconds = time.perf_counter() - began
        cache = system.cache
        return {
            "store": settings.store_url,
            "broker": settings.broker_url,
            "orders": report.orders,
            "customers": customers,
            "statuses": dict(sorted(report.statuses.items())),
            "revenue": str(report.revenue),
            "commands": commands,
            "commands_refused_by_rules": dict(stats.refused),
            "commands_per_second": round(commands / seconds, 1),
            "events": events,
            "events_per_second": round(events / (seconds + settle_seconds), 1),
            "command_latency_ms": {
                "p50": round(_percentile(stats.latencies, 50) * 1000, 2),
                "p99": round(_percentile(stats.latencies, 99) * 1000, 2),
            },
            "read_your_writes": {
                "reads": stats.reads,
                "stale": len(stats.stale_reads),
                "p50_ms": round(_percentile(stats.read_latencies, 50) * 1000, 2),
                "p99_ms": round(_percentile(stats.read_latencies, 99) * 1000, 2),
            },
            "projection_lag_events": {
                "max": lag.max_projection,
                "p99": round(_percentile([float(s) for s in lag.samples], 99)),
                "final": lag.samples[-1] if lag.samples else 0,
            },
            "relay_lag_events_max": lag.max_relay,
            "saga": {
                "handled": dict(system.saga.seen) if system.saga else {},
                "refused": dict(system.saga.refused) if system.saga else {},
            },
            "cache": None if cache is None else {"hits": cache.hits, "misses": cache.misses},
            "settle_seconds": round(settle_seconds, 2),
            "rebuild_seconds": round(rebuild_seconds, 2),
            "audited_events": report.events,
            "seconds": round(total_seconds, 2),
            "problems": problems,
        }


def _print_summary(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title="summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    latency = summary["command_latency_ms"]
    reads = summary["read_your_writes"]
    lag = summary["projection_lag_events"]
    refused = sum(summary["commands_refused_by_rules"].values())
    rows = [
        ("orders", f"{summary['orders']:,} from {summary['customers']} customers"),
        ("outcome", ", ".join(f"{k} {v}" for k, v in summary["statuses"].items())),
        ("revenue (shipped)", summary["revenue"]),
        (
            "commands",
            f"{summary['commands']:,} ({refused} refused by the rules, as scripted)",
        ),
        ("commands/s", f"{summary['commands_per_second']:,.0f}"),
        ("events", f"{summary['events']:,}"),
        ("events/s", f"{summary['events_per_second']:,.0f}"),
        ("command latency", f"p50 {latency['p50']} ms, p99 {latency['p99']} ms"),
        (
            "read your writes",
            f"{reads['reads']} reads, {reads['stale']} stale, "
            f"p50 {reads['p50_ms']} ms, p99 {reads['p99_ms']} ms",
        ),
        ("projection lag", f"max {lag['max']} events, p99 {lag['p99']}, at the end {lag['final']}"),
        ("relay lag", f"max {summary['relay_lag_events_max']} events"),
        ("saga", ", ".join(f"{k} {v}" for k, v in summary["saga"]["handled"].items())),
        (
            "rebuild (replay)",
            f"{summary['audited_events']:,} events in {summary['rebuild_seconds']} s",
        ),
        ("total time", f"{summary['seconds']} s"),
    ]
    if summary["cache"] is not None:
        rows.append(
            ("Redis cache", f"{summary['cache']['hits']} hits, {summary['cache']['misses']} misses")
        )
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    if summary["problems"]:
        console.print("[bold red]INCONSISTENT[/]:")
        for problem in summary["problems"]:
            console.print(f"  - {problem}")
    else:
        console.print(
            "[bold green]consistent[/]: read models = replayed aggregates, revenue = shipments, "
            "stock = its events, rebuilt read models = live ones, no dead letters"
        )
