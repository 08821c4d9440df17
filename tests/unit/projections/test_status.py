"""Heartbeats and status: lag, running, stuck and dead runners."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import sys

import factstream as fs
from factstream.projections import (
    Projection,
    ProjectionRunner,
    SqliteTarget,
    SqlTarget,
    SqlTransaction,
    handles,
)
from factstream.projections.heartbeats import ProjectionStatus, projection_status

from .models import OrdersByCustomer, order_events

WORKER = pathlib.Path(__file__).parents[2] / "faults" / "projection_worker.py"


async def _status(target: SqlTarget, head: int, **options: float) -> ProjectionStatus:
    [status] = await projection_status(target, head, **options)  # type: ignore[arg-type]
    return status


async def _until_state(
    target: SqlTarget, head: int, state: str, **options: float
) -> ProjectionStatus:
    async with asyncio.timeout(20):
        while True:
            status = await _status(target, head, **options)
            if status.runners and status.runners[0].state == state:
                return status
            await asyncio.sleep(0.05)


async def test_status_reports_checkpoint_lag_and_a_running_runner(
    store: fs.EventStore, target: SqlTarget
) -> None:
    result = await store.append("order-1", order_events("ada", [3, 4]))
    async with ProjectionRunner(store, OrdersByCustomer(), target, heartbeat_interval=0.05) as r:
        assert await r.wait_for(result.position, timeout=10)
        status = await _until_state(target, result.position, "running")
        assert (status.name, status.generation, status.position, status.lag) == (
            "orders_by_customer",
            1,
            result.position,
            0,
        )
        assert status.runners[0].runner_id == r.runner_id
        assert status.runners[0].pid == os.getpid()
        behind = await _status(target, result.position + 5)
        assert behind.lag == 5
    stopped = await projection_status(target, result.position, include_stopped=True)
    assert [runner.state for runner in stopped[0].runners] == ["stopped"]
    assert (await _status(target, result.position)).runners == ()


class Hanging(Projection[SqlTransaction]):
    name = "hanging"

    @handles("Hang")
    async def hang(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
        await asyncio.Event().wait()


async def test_a_runner_that_beats_but_does_not_move_is_stuck(
    store: fs.EventStore, target: SqlTarget
) -> None:
    result = await store.append("s", [fs.NewEvent("Hang", {})])
    runner = ProjectionRunner(store, Hanging(), target, heartbeat_interval=0.05)
    await runner.start()
    try:
        status = await _until_state(target, result.position, "stuck", stuck_after=0.2)
        assert status.runners[0].position == 0
        assert status.lag == 1
    finally:
        await runner.stop(grace=0)


async def test_a_killed_runner_is_reported_dead(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    async with fs.connect(url) as store:
        await store.append("account-1", [fs.NewEvent("Deposited", {"amount": 1})])
    readmodels = tmp_path / "rm.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        url,
        f"sqlite:{readmodels}",
        "run",
        "10",
        "0.05",
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    async with asyncio.timeout(30):
        assert (await process.stdout.readline()).strip() == b"1"
    target = SqliteTarget(readmodels)
    await _until_state(target, 1, "running")
    process.send_signal(signal.SIGKILL)
    await process.wait()
    status = await _until_state(target, 1, "dead")
    assert status.runners[0].pid == process.pid
