"""``factstream demo``: a short tour of the event store on a real SQLite file."""

from __future__ import annotations

import asyncio
import itertools
import time

import typer
from rich.console import Console
from rich.table import Table

from .. import ANY, NO_STREAM, NewEvent, WrongExpectedVersion, connect


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    url: str = typer.Option("sqlite:///factstream-demo.db", help="The store to use."),
    orders: int = typer.Option(200, min=1, help="How many orders to place concurrently."),
) -> None:
    """Append, read, subscribe and race on a store, printing what happens."""
    asyncio.run(_demo(url, orders, Console()))


async def _demo(url: str, orders: int, console: Console) -> None:
    async with connect(url) as store:
        console.rule(f"[bold]factstream demo[/] on {url}")
        start_head = await store.head_position()
        console.print(f"The log holds {start_head} events already.")

        # A live subscriber, started before anything is written, counts what it sees.
        seen: list[int] = []
        ready = asyncio.Event()
        progress = asyncio.Event()

        async def follow() -> None:
            async with store.subscribe(from_position=start_head + 1) as events:
                ready.set()
                async for event in events:
                    seen.append(event.position)
                    progress.set()

        follower = asyncio.create_task(follow())
        await ready.wait()

        run = time.strftime("%H%M%S")
        stream = f"order-{run}-0"
        result = await store.append(
            stream,
            [
                NewEvent("OrderCreated", {"customer": "ada", "currency": "EUR"}),
                NewEvent("ItemAdded", {"sku": "tea", "quantity": 2, "price": 4.5}),
            ],
            expected_version=NO_STREAM,
        )
        console.print(
            f"Appended 2 events to [cyan]{stream}[/]: version {result.version}, "
            f"position {result.position}."
        )

        try:
            await store.append(stream, [NewEvent("OrderPaid", {})], expected_version=1)
        except WrongExpectedVersion as exc:
            console.print(f"A stale writer is refused: [yellow]{exc}[/]")

        # Many orders placed at once share transactions (group commit).
        began = time.perf_counter()
        await asyncio.gather(
            *(
                store.append(
                    f"order-{run}-{n}",
                    [NewEvent("OrderCreated", {"customer": f"c{n % 17}", "currency": "EUR"})],
                    expected_version=NO_STREAM,
                )
                for n in range(1, orders + 1)
            )
        )
        elapsed = time.perf_counter() - began
        console.print(
            f"Placed {orders} orders concurrently in {elapsed * 1000:.0f} ms "
            f"({orders / elapsed:,.0f} appends/s)."
        )
        await store.append(stream, [NewEvent("OrderPaid", {"amount": 9.0})], expected_version=ANY)

        table = Table(title=f"stream {stream}")
        for column in ("version", "position", "type", "data"):
            table.add_column(column)
        for event in await store.read(stream):
            table.add_row(str(event.version), str(event.position), event.type, str(event.data))
        console.print(table)

        head = await store.head_position()
        while len(seen) < head - start_head:
            progress.clear()
            await progress.wait()
        follower.cancel()
        in_order = all(a < b for a, b in itertools.pairwise(seen))
        console.print(
            f"The live subscriber received {len(seen)} events, "
            f"{'in order' if in_order else 'OUT OF ORDER'}, up to position {seen[-1]}."
        )
        console.rule("done")
