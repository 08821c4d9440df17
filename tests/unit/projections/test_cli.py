"""``factstream dlq`` and ``factstream projections status`` on a real read-model database."""

from __future__ import annotations

import asyncio
import json
import pathlib

from typer.testing import CliRunner

import factstream as fs
from factstream.cli.app import app
from factstream.projections import ProjectionRunner, RetryPolicy, SqliteTarget

from .test_dead_letters import Fragile


async def _park(events_url: str, target: SqliteTarget) -> int:
    async with fs.connect(events_url) as store:
        poisoned = await store.append("a", [fs.NewEvent("Happened", {"poison": True})])
        await store.append("a", [fs.NewEvent("Happened", {})])
        ok = await store.append("b", [fs.NewEvent("Happened", {})])
        runner = ProjectionRunner(store, Fragile(), target, retry=RetryPolicy(1, 0.0))
        await runner.catch_up(ok.position)
        return poisoned.position


def test_dlq_commands_list_show_retry_and_skip(tmp_path: pathlib.Path) -> None:
    events_url = f"sqlite:///{tmp_path / 'events.db'}"
    target = SqliteTarget(tmp_path / "rm.db")
    url = f"sqlite:///{target.path}"
    position = asyncio.run(_park(events_url, target))
    cli = CliRunner(env={"COLUMNS": "200"})

    listed = cli.invoke(app, ["dlq", "list", "fragile", "--target", url])
    assert listed.exit_code == 0, listed.output
    assert "cannot digest" in listed.output
    assert "│ a " in listed.output

    shown = cli.invoke(app, ["dlq", "show", "fragile", str(position), "-t", url])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.output)
    assert (document["stream_id"], document["data"], document["attempts"]) == (
        "a",
        {"poison": True},
        1,
    )

    missing = cli.invoke(app, ["dlq", "show", "fragile", "999", "-t", url])
    assert missing.exit_code == 1

    retried = cli.invoke(app, ["dlq", "retry", "fragile", "a", "-t", url])
    assert retried.exit_code == 0, retried.output
    assert retried.output.startswith("2 parked event(s) marked")

    skipped = cli.invoke(app, ["dlq", "skip", "fragile", str(position), "-t", url])
    assert skipped.exit_code == 0, skipped.output
    remaining = cli.invoke(app, ["dlq", "list", "fragile", "-t", url, "--stream", "a"])
    assert str(position + 1) in remaining.output
    assert f"│ {position} " not in remaining.output

    status = cli.invoke(app, ["projections", "status", "-t", url, "--store", events_url, "--all"])
    assert status.exit_code == 0, status.output
    assert "fragile" in status.output
    assert "stopped" in status.output
