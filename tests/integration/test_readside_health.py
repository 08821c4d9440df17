"""Health catches dead and stuck runners: a runner process stopped with SIGSTOP or killed makes
``/health/ready`` fail and says which runner; parked events are served as dead letters."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import sys
from collections.abc import AsyncIterator

import pytest

import factstream as fs
from factstream.http import (
    HttpSettings,
    ProjectionDeadLetters,
    ProjectionsStatus,
    create_app,
)
from factstream.observability import Metrics
from factstream.observability.readside import ProjectionMetrics
from factstream.projections import (
    Projection,
    ProjectionRunner,
    RetryPolicy,
    SqliteTarget,
    SqlTransaction,
    handles,
)
from tests.unit.http.support import running

from .health_support import until

WORKER = pathlib.Path(__file__).parents[1] / "faults" / "projection_worker.py"


@pytest.fixture
async def store(tmp_path: pathlib.Path) -> AsyncIterator[fs.EventStore]:
    async with fs.connect(f"sqlite:///{tmp_path}/events.db") as opened:
        yield opened


async def test_a_stopped_runner_process_fails_readiness_until_it_resumes(
    store: fs.EventStore, tmp_path: pathlib.Path
) -> None:
    for n in range(20):
        await store.append(f"acct-{n % 4}", [fs.NewEvent("Paid", {"amount": n})])
    read_models = tmp_path / "read.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        f"sqlite:///{tmp_path}/events.db",
        f"sqlite:{read_models}",
        "run",
        "100",
        "0.1",
        stdout=asyncio.subprocess.DEVNULL,
        env=env,
    )
    check = ProjectionsStatus(SqliteTarget(read_models), store, expected=["ledger"])
    try:
        healthy = await until(check, True)
        assert "ledger" in healthy.observed
        app = create_app(HttpSettings(health_timeout=5), store, health_checks=[check])
        async with running(app) as client:
            assert (await client.get("/health/ready")).status_code == 200

            worker.send_signal(signal.SIGSTOP)  # hung: alive, but its heartbeats stop
            stopped = await until(check, False)
            assert f"(pid {worker.pid}) is dead" in stopped.detail
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert "is dead" in ready.json()["checks"]["projections"]["detail"]

            worker.send_signal(signal.SIGCONT)
            await until(check, True)
            assert (await client.get("/health/ready")).status_code == 200
    finally:
        worker.kill()
        await worker.wait()
    killed = await until(check, False)
    assert "is dead" in killed.detail


class Picky(Projection[SqlTransaction]):
    name = "picky"
    tables = {"seen": "CREATE TABLE {seen} (position BIGINT PRIMARY KEY)"}  # noqa: RUF012
    broken = True

    @handles("Paid")
    async def paid(self, event: fs.RecordedEvent, tx: SqlTransaction) -> None:
        if self.broken and event.data.get("poison"):
            raise ValueError("cannot handle poison")
        tx.execute("INSERT INTO {seen} VALUES (?)", (event.position,))


async def test_parked_events_are_listed_retried_and_skipped_as_dead_letters(
    store: fs.EventStore, tmp_path: pathlib.Path
) -> None:
    target = SqliteTarget(tmp_path / "read.db")
    poison = await store.append("acct-1", [fs.NewEvent("Paid", {"poison": True})])
    behind = await store.append("acct-1", [fs.NewEvent("Paid", {})])
    other = await store.append("acct-2", [fs.NewEvent("Paid", {})])
    projection = Picky()
    retry = RetryPolicy(attempts=2, first_delay=0.01)
    async with ProjectionRunner(
        store, projection, target, retry=retry, heartbeat_interval=0.1, maintenance_interval=0.05
    ) as runner:
        assert await runner.wait_for(other.position, timeout=30)
        letters = ProjectionDeadLetters(target, ["picky"])
        listed = await letters.list()
        assert [(d.id, d.stream_id) for d in listed] == [
            (f"picky@{poison.position}", "acct-1"),
            (f"picky@{behind.position}", "acct-1"),
        ]
        assert "cannot handle poison" in listed[0].error
        assert [d.id for d in await letters.list(after=listed[0].id)] == [listed[1].id]
        assert await letters.show("picky@999999") is None
        assert await letters.show("other@1") is None

        projection.broken = False  # the handler is fixed and deployed
        assert await letters.retry(listed[0].id)
        async with asyncio.timeout(30):  # the runner replays the parked stream in order
            while True:
                if not await letters.list():
                    break
                await asyncio.sleep(0.05)
        status = ProjectionsStatus(target, store)
        [seen] = await status.projection_statuses()
        assert (seen.name, seen.state) == ("picky", "running")
        assert not await letters.skip(listed[0].id)  # nothing parked any more


async def test_projection_lag_parked_and_heartbeat_are_exported_to_prometheus(
    store: fs.EventStore, tmp_path: pathlib.Path
) -> None:
    target = SqliteTarget(tmp_path / "read.db")
    await store.append("acct-1", [fs.NewEvent("Paid", {"poison": True})])
    done = await store.append("acct-2", [fs.NewEvent("Paid", {})])
    retry = RetryPolicy(attempts=1, first_delay=0.01)
    metrics = Metrics()
    exporter = ProjectionMetrics(metrics, target, store)
    async with ProjectionRunner(store, Picky(), target, retry=retry, heartbeat_interval=0.1) as r:
        assert await r.wait_for(done.position, timeout=30)
        await exporter.refresh()
        running_samples = _samples(metrics)
    # The runner is gone; two more events arrive that nobody processes.
    await store.append("acct-3", [fs.NewEvent("Paid", {}), fs.NewEvent("Paid", {})])
    await exporter.refresh()
    stopped_samples = _samples(metrics)
    assert running_samples[("factstream_parked_events", "picky")] == 1
    assert running_samples[("factstream_lag_events", "picky")] == 0
    assert 0 <= running_samples[("factstream_heartbeat_age_seconds", "picky")] < 3600
    assert stopped_samples[("factstream_lag_events", "picky")] == 2


def _samples(metrics: Metrics) -> dict[tuple[str, str | None], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, sample.labels.get("name")): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    }
