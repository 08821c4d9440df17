"""``factstream projections rebuild`` and ``reset`` on a real SQLite read model."""

from __future__ import annotations

import asyncio
import pathlib

from typer.testing import CliRunner

import factstream as fs
from factstream.cli.app import app
from factstream.projections import ProjectionRunner, SqliteTarget
from factstream.projections.generations import generations

from .helpers import query
from .models import OrdersByCustomer, order_events

SPEC = "tests.unit.projections.models:OrdersByCustomer"


async def _fill(url: str, target: SqliteTarget) -> int:
    async with fs.connect(url) as store:
        for n in range(30):
            await store.append(f"order-{n}", order_events(f"c{n % 3}", [n, 1]))
        return await ProjectionRunner(store, OrdersByCustomer(), target).catch_up()


async def _states(target: SqliteTarget) -> list[tuple[int, str]]:
    session = await target.connect()
    try:
        await session.migrate()
        return [(g.number, g.state) for g in await generations(session, "orders_by_customer")]
    finally:
        await session.close()


def test_rebuild_builds_a_new_generation_with_a_progress_bar_and_swaps_it_in(
    tmp_path: pathlib.Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    target = SqliteTarget(tmp_path / "rm.db")
    assert asyncio.run(_fill(url, target)) == 90
    cli = CliRunner(env={"COLUMNS": "200"})

    result = cli.invoke(
        app,
        [
            "projections",
            "rebuild",
            "-p",
            SPEC,
            "-t",
            f"sqlite:///{target.path}",
            "-s",
            url,
            "--batch-size",
            "7",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "90/90" in result.output
    assert "generation 2 of orders_by_customer is active" in result.output
    assert asyncio.run(_states(target)) == [(1, "retired"), (2, "active")]
    rows = asyncio.run(query(target, "SELECT count(*), sum(total) FROM orders"))
    assert (int(rows[0][0]), int(rows[0][1])) == (30, sum(range(30)) + 30)


def test_reset_drops_the_read_model_and_the_next_runner_starts_from_position_one(
    tmp_path: pathlib.Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    target = SqliteTarget(tmp_path / "rm.db")
    asyncio.run(_fill(url, target))
    cli = CliRunner()

    refused = cli.invoke(app, ["projections", "reset", SPEC, "-t", f"sqlite:///{target.path}"])
    assert refused.exit_code == 1  # not confirmed
    result = cli.invoke(
        app, ["projections", "reset", "orders_by_customer", "-t", f"sqlite:///{target.path}", "-y"]
    )
    assert result.exit_code == 0, result.output
    assert "1 generation(s) dropped" in result.output
    assert asyncio.run(_states(target)) == []

    async def again() -> int:
        async with fs.connect(url) as store:
            return await ProjectionRunner(store, OrdersByCustomer(), target).catch_up()

    assert asyncio.run(again()) == 90
    rows = asyncio.run(query(target, "SELECT count(*), sum(total) FROM orders"))
    assert (int(rows[0][0]), int(rows[0][1])) == (30, sum(range(30)) + 30)


def test_an_unknown_projection_path_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "projections",
            "rebuild",
            "-p",
            "tests.nowhere:Nothing",
            "-t",
            "sqlite:///x.db",
            "-s",
            "memory://",
        ],
    )
    assert result.exit_code == 2
