"""``factstream demo`` in a subprocess: it runs the orders system end to end and says so."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _demo(
    cwd: pathlib.Path, *args: str, path: str = f"{ROOT / 'src'}{os.pathsep}{ROOT}"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": path, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-c", "from factstream.cli import main; main()", "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,  # the demo gives up settling after 60 s and says what is behind
    )


def test_the_demo_runs_end_to_end_and_is_consistent(tmp_path: pathlib.Path) -> None:
    done = _demo(tmp_path, "--orders", "120", "--customers", "10", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["problems"] == []
    assert summary["orders"] == 120
    assert summary["statuses"]["shipped"] > 0
    assert summary["events"] > 120 * 4
    assert summary["read_your_writes"]["reads"] > 0
    assert summary["read_your_writes"]["stale"] == 0
    assert summary["saga"]["handled"]["OrderConfirmed"] > 0
    assert summary["projection_lag_events"]["final"] == 0
    # The default store is the demo's own folder, made fresh in the working directory.
    assert (tmp_path / "factstream-demo" / "events.db").exists()


def test_the_demo_prints_a_summary_table(tmp_path: pathlib.Path) -> None:
    # Only src/ on the path, as for an installed factstream: the demo finds the example in
    # the checkout beside it.
    done = _demo(tmp_path, "--orders", "30", "--customers", "3", path=str(ROOT / "src"))
    assert done.returncode == 0, done.stderr
    for label in ("commands/s", "events/s", "command latency", "projection lag", "consistent"):
        assert label in done.stdout


def test_the_demo_runs_again_on_a_store_it_is_given(tmp_path: pathlib.Path) -> None:
    store = f"sqlite:///{tmp_path / 'shop.db'}"
    first = _demo(tmp_path, "--store", store, "--orders", "20", "--customers", "2", "--json")
    assert first.returncode == 0, first.stderr
    again = _demo(tmp_path, "--store", store, "--orders", "20", "--customers", "2", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["orders"] == 40  # the audit covers both runs


def test_an_unreachable_store_fails_with_a_clear_message(tmp_path: pathlib.Path) -> None:
    done = _demo(tmp_path, "--store", "postgresql://postgres@127.0.0.1:9/test", "--orders", "5")
    assert done.returncode == 2
    assert "demo failed" in done.stdout + done.stderr
    assert "reachable" in done.stdout + done.stderr


def test_an_inconsistent_read_model_fails_the_demo(tmp_path: pathlib.Path) -> None:
    import sqlite3

    store = f"sqlite:///{tmp_path / 'shop.db'}"
    first = _demo(tmp_path, "--store", store, "--orders", "20", "--customers", "2", "--json")
    assert first.returncode == 0, first.stderr
    # Corrupt the live read model behind the framework's back: one order's total.
    with sqlite3.connect(tmp_path / "shop.readmodels.db") as db:
        (table,) = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'orders_g%'"
        ).fetchone()
        db.execute(f"UPDATE {table} SET total_cents = total_cents + 1 WHERE rowid = 1")
    again = _demo(tmp_path, "--store", store, "--orders", "5", "--customers", "2")
    assert again.returncode == 1
    assert "INCONSISTENT" in again.stdout
    assert "read model" in again.stdout


def test_the_demo_runs_on_the_real_services(tmp_path: pathlib.Path) -> None:
    """``--store postgresql://... --broker nats://... --redis redis://...``: the same demo on
    PostgreSQL, NATS JetStream and Redis (issue 8), in a schema and a subject prefix of its own."""
    import asyncio
    import uuid

    from tests import services

    services.require("PostgreSQL", "127.0.0.1", 5432)
    services.require("NATS", "127.0.0.1", 4222)
    services.require("Redis", "127.0.0.1", 6379)
    name = f"demo_{uuid.uuid4().hex[:10]}"
    broker_url = f"nats://127.0.0.1:4222?prefix={name}"
    try:
        done = _demo(
            tmp_path,
            "--store",
            f"{services.POSTGRES_URL}?schema={name}",
            "--broker",
            broker_url,
            "--redis",
            "redis://127.0.0.1:6379/0",
            "--orders",
            "40",
            "--json",
        )
        assert done.returncode == 0, done.stderr[-2000:]
        summary = json.loads(done.stdout)
        assert summary["problems"] == []
        assert summary["orders"] == 40
        assert summary["cache"]["hits"] + summary["cache"]["misses"] > 0  # Redis was used
        assert sum(summary["saga"]["handled"].values()) > 0  # through the NATS consumer group
    finally:
        asyncio.run(_drop(name, broker_url))


async def _drop(name: str, broker_url: str) -> None:
    import asyncpg

    from factstream.streaming import open_broker
    from tests import services

    conn = await asyncpg.connect(services.POSTGRES_URL)
    try:
        schemas = await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", f"{name}%"
        )
        for (schema,) in schemas:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()
    broker = await open_broker(broker_url)
    try:
        await broker.destroy()
    finally:
        await broker.close()
