"""kill -9 of a consumer-group member and of the active relay, on the shared NATS server."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from factstream import NewEvent
from factstream.store.sqlite import SqliteEventStore
from factstream.streaming import ConsumerGroup, Relay, open_streaming_state
from factstream.streaming.brokers.nats import NatsBroker
from tests.services import require
from tests.unit.streaming.helpers import Recorder, running, wait_until

from .streaming_worker import GROUP, PARTITIONS, RELAY, open_effects

NATS_URL = "nats://127.0.0.1:4222"
ROOT = pathlib.Path(__file__).resolve().parents[2]
STREAMS, ROUNDS = 24, 30


@pytest.fixture
def processes() -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    started: dict[str, subprocess.Popen[bytes]] = {}
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
        process.wait(10)


def spawn(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults.streaming_worker", *args], cwd=ROOT, env=env
    )


async def write(store: SqliteEventStore, rounds: range) -> None:
    for version in rounds:
        for stream in range(STREAMS):
            await store.append(f"order-{stream}", [NewEvent("Happened", {"v": version})])
        await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_a_killed_member_s_partitions_move_and_nothing_is_lost(
    tmp_path: pathlib.Path, processes: dict[str, subprocess.Popen[bytes]]
) -> None:
    require("NATS", "127.0.0.1", 4222)
    prefix = f"fstest{uuid.uuid4().hex[:10]}"
    db, effects_db = str(tmp_path / "events.db"), str(tmp_path / "effects.db")
    store = await SqliteEventStore.open(db)
    state = await open_streaming_state(f"sqlite:///{db}")
    broker = await NatsBroker.open(NATS_URL, prefix=prefix, partitions=PARTITIONS)
    effects = open_effects(effects_db)
    relay = Relay(store, broker, state, RELAY)
    try:
        async with running(relay.run()):
            for name in ("a", "b"):
                processes[name] = spawn("member", db, NATS_URL, prefix, name, effects_db)

            def members() -> set[str]:
                rows = effects.execute("SELECT DISTINCT member FROM effects").fetchall()
                return {row[0] for row in rows}

            # Both members hold partitions before any event is written (else the first one up
            # may handle everything before the second joins).
            for _ in range(300):
                holders = await state.lease_holders("group:killtest:partition:")
                if set(holders.values()) == {"a", "b"}:
                    break
                await asyncio.sleep(0.1)
            await write(store, range(1, 11))
            await wait_until(lambda: members() == {"a", "b"}, timeout=30)
            processes["a"].send_signal(signal.SIGKILL)
            processes["a"].wait(10)
            await write(store, range(11, ROUNDS + 1))

            def applied() -> int:
                query = "SELECT count(*) FROM (SELECT DISTINCT stream_id, version FROM effects)"
                return int(effects.execute(query).fetchall()[0][0])

            await wait_until(lambda: applied() == STREAMS * ROUNDS, timeout=60, step=0.1)
        rows = effects.execute("SELECT stream_id, version, member FROM effects ORDER BY seq")
        seen: dict[str, list[int]] = {}
        repeats = 0
        for stream_id, version, _member in rows.fetchall():
            versions = seen.setdefault(stream_id, [])
            if version in versions:
                repeats += 1  # the killed member's last batch, applied but not yet recorded
                assert version <= max(versions)
                continue
            assert version == len(versions) + 1, (stream_id, versions, version)
            versions.append(version)
        assert all(len(v) == ROUNDS for v in seen.values())
        assert len(seen) == STREAMS
        assert repeats <= GROUP.max_in_flight
        last = effects.execute(
            "SELECT DISTINCT member FROM effects WHERE seq > (SELECT max(seq) - 50 FROM effects)"
        )
        assert {row[0] for row in last.fetchall()} == {"b"}
    finally:
        effects.close()
        await broker.destroy()
        await broker.close()
        await state.close()
        await store.close()


@pytest.mark.slow
async def test_the_standby_relay_takes_over_when_the_active_one_is_killed(
    tmp_path: pathlib.Path, processes: dict[str, subprocess.Popen[bytes]]
) -> None:
    require("NATS", "127.0.0.1", 4222)
    prefix = f"fstest{uuid.uuid4().hex[:10]}"
    db = str(tmp_path / "events.db")
    store = await SqliteEventStore.open(db)
    state = await open_streaming_state(f"sqlite:///{db}")
    broker = await NatsBroker.open(NATS_URL, prefix=prefix, partitions=PARTITIONS)
    recorder = Recorder()
    group = ConsumerGroup("relaykill", broker, store, state, recorder, GROUP)
    try:
        async with running(group.run()):
            for name in ("r1", "r2"):
                processes[name] = spawn("relay", db, NATS_URL, prefix, name)
            await write(store, range(1, 11))
            await wait_until(lambda: recorder.count == 10 * STREAMS, timeout=30)
            holders = await state.lease_holders("relay:")
            active = holders["relay:default"]
            standby = "r2" if active == "r1" else "r1"
            processes[active].send_signal(signal.SIGKILL)
            processes[active].wait(10)
            await write(store, range(11, ROUNDS + 1))
            await wait_until(lambda: recorder.count == ROUNDS * STREAMS, timeout=60, step=0.1)
            assert (await state.lease_holders("relay:")) == {"relay:default": standby}
        recorder.check_in_order_once({f"order-{s}": ROUNDS for s in range(STREAMS)})
    finally:
        await broker.destroy()
        await broker.close()
        await state.close()
        await store.close()
