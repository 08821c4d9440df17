"""Replay of a projection or process manager over the log or a slice of it, into a scratch
generation, compared row by row with the live read model."""

from __future__ import annotations

import asyncio
import pathlib

from typer.testing import CliRunner

import factstream as fs
from factstream.cli.app import app
from factstream.projections import ProjectionRunner, RecordingDispatcher, SqliteTarget, SqlTarget
from factstream.projections.generations import generations
from factstream.projections.replay import EventSlice, compare, drop_generation, replay

from .helpers import query
from .models import OrdersByCustomer, order_events
from .test_process_managers import WelcomeGifts


async def _live(store: fs.EventStore, target: SqlTarget, orders: int = 12) -> None:
    for n in range(orders):
        await store.append(f"order-{n}", order_events(f"c{n % 3}", [n, 5]))
    await ProjectionRunner(store, OrdersByCustomer(), target).catch_up()


async def _generations(target: SqlTarget) -> list[tuple[int, str]]:
    session = await target.connect()
    try:
        return [(g.number, g.state) for g in await generations(session, "orders_by_customer")]
    finally:
        await session.close()


async def test_a_full_replay_matches_the_live_read_model(
    store: fs.EventStore, target: SqlTarget
) -> None:
    await _live(store, target)
    result = await replay(store, OrdersByCustomer(), target, batch_size=5)
    assert (result.generation, result.events, result.last_position) == (2, 36, 36)
    diff = await compare(target, "orders_by_customer", result.generation)
    assert diff.same
    assert (diff.live_generation, diff.tables[0].live_rows, diff.tables[0].replay_rows) == (
        1,
        12,
        12,
    )
    # Invisible to queries meanwhile, and dropped afterwards.
    assert await query(target, "SELECT count(*) FROM orders") == [(12,)]
    await drop_generation(target, "orders_by_customer", result.generation)
    assert await _generations(target) == [(1, "active")]


async def test_a_slice_by_stream_or_position_shows_the_rows_it_lacks(
    store: fs.EventStore, target: SqlTarget
) -> None:
    await _live(store, target)
    one = await replay(store, OrdersByCustomer(), target, EventSlice(stream="order-4"))
    diff = await compare(target, "orders_by_customer", one.generation)
    table = diff.tables[0]
    assert (one.events, table.replay_rows, table.only_live, table.changed) == (3, 1, 11, 0)

    # Positions 1..14: order-4 was created (13) and got its first item (14), not its second.
    part = await replay(store, OrdersByCustomer(), target, EventSlice(to_position=14))
    table = (await compare(target, "orders_by_customer", part.generation)).tables[0]
    assert (part.last_position, table.replay_rows, table.only_live, table.changed) == (14, 5, 7, 1)
    key, live, replayed = table.samples[0]
    assert key == "order-4"
    assert live is not None
    assert replayed is not None
    assert (int(live[3]), int(replayed[3])) == (9, 4)


async def test_a_slice_by_time_and_a_recorded_log(store: fs.EventStore, target: SqlTarget) -> None:
    await _live(store, target, orders=4)
    events = [e async for e in store.read_all()]
    since = events[6].timestamp
    expected = sum(1 for e in events if e.timestamp >= since)
    result = await replay(events, OrdersByCustomer(), target, EventSlice(since=since))
    assert result.events == expected
    later = await replay(events, OrdersByCustomer(), target, EventSlice(until=since))
    assert later.events == len(events) - expected


async def test_a_changed_projection_shows_which_rows_it_would_change(
    store: fs.EventStore, target: SqlTarget
) -> None:
    class Doubled(OrdersByCustomer):
        @fs.handles("ItemAdded")
        def item_added(self, event: fs.RecordedEvent, tx: fs.SqlTransaction) -> None:
            tx.execute(
                "UPDATE {orders} SET items = items + 1, total = total + 2 * ?, "
                "last_position = ? WHERE order_id = ?",
                (event.data["price"], event.position, event.stream_id),
            )

    await _live(store, target, orders=3)
    result = await replay(store, Doubled(), target)
    table = (await compare(target, "orders_by_customer", result.generation)).tables[0]
    assert (table.changed, table.only_live, table.only_replay) == (3, 0, 0)


async def test_a_process_manager_replayed_records_its_commands_without_sending_them(
    store: fs.EventStore, tmp_path: pathlib.Path
) -> None:
    for n, customer in enumerate(["a", "b", "a"]):
        await store.append(
            f"order-o{n}",
            [fs.NewEvent("OrderCreated", {"order_id": f"o{n}", "customer": customer})],
        )
    recorder = RecordingDispatcher()
    target = SqliteTarget(tmp_path / "pm.db")
    result = await replay(store, WelcomeGifts(recorder), target)
    assert result.events == 3
    assert [(c.command.order_id, c.command.sku) for c in recorder.sent] == [
        ("o0", "gift-mug"),
        ("o0", "gift-card"),
        ("o1", "gift-mug"),
        ("o1", "gift-card"),
    ]
    assert await store.head_position() == 3  # nothing was sent


def test_the_replay_command_compares_with_the_live_read_model(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    target = SqliteTarget(tmp_path / "rm.db")

    async def fill() -> None:
        async with fs.connect(url) as store:
            await _live(store, target, orders=6)

    asyncio.run(fill())
    cli = CliRunner(env={"COLUMNS": "200"})
    spec = "tests.unit.projections.models:OrdersByCustomer"
    args = ["replay", "-p", spec, "-s", url, "-t", f"sqlite:///{target.path}"]
    same = cli.invoke(app, args)
    assert same.exit_code == 0, same.output
    assert "replayed 18 event(s)" in same.output
    assert same.output.rstrip().endswith("same")

    sliced = cli.invoke(app, [*args, "--stream", "order-2", "--fail-on-diff"])
    assert sliced.exit_code == 1, sliced.output
    assert "different" in sliced.output
    assert asyncio.run(_generations(target)) == [(1, "active")]  # scratch dropped
