"""Health catches a dead relay and a dead consumer member: a process stopped with SIGSTOP
makes readiness fail naming it (and its pid), and readiness recovers after SIGCONT."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import sys
import uuid
from collections.abc import AsyncIterator

import pytest

import factstream as fs
from factstream.http import HttpSettings, StreamingStatus, create_app
from factstream.streaming import StreamingState, open_broker, open_streaming_state
from tests.services import require
from tests.unit.http.support import running

from .health_support import until

MEMBER = pathlib.Path(__file__).with_name("heartbeat_member.py")
CLI = "from factstream.cli import main; main()"


@pytest.fixture
async def db(tmp_path: pathlib.Path) -> AsyncIterator[tuple[str, fs.EventStore, StreamingState]]:
    url = f"sqlite:///{tmp_path}/events.db"
    async with fs.connect(url) as store:
        for n in range(10):
            await store.append(f"order-{n}", [fs.NewEvent("Placed", {"n": n})])
        state = await open_streaming_state(url)
        yield url, store, state
        await state.close()


async def start(*args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.DEVNULL, env=env
    )


async def stop_and_resume(process: asyncio.subprocess.Process, check: StreamingStatus) -> str:
    """SIGSTOP ``process`` until readiness fails; SIGCONT it until it passes; the detail."""
    await until(check, True)
    process.send_signal(signal.SIGSTOP)  # hung: alive, but its heartbeats stop
    try:
        failed = await until(check, False)
    finally:
        process.send_signal(signal.SIGCONT)
    await until(check, True)
    return failed.detail


async def test_a_stopped_relay_process_fails_readiness_until_it_resumes(
    db: tuple[str, fs.EventStore, StreamingState],
) -> None:
    url, store, state = db
    relay = await start(
        "-c", CLI, "streaming", "relay", "--store", url, "--broker", "memory://",
        "--heartbeat-interval", "0.1",
    )  # fmt: skip
    check = StreamingStatus(state, store, expected=["relay:default"])
    try:
        app = create_app(HttpSettings(health_timeout=5), store, health_checks=[check])
        async with running(app) as client:
            detail = await stop_and_resume(relay, check)
            assert detail.startswith("relay default: relay-")
            assert f"(pid {relay.pid}) is dead (last heartbeat" in detail
            assert (await client.get("/health/ready")).status_code == 200
            relay.send_signal(signal.SIGSTOP)
            ready = await client.get("/health/ready")
            while ready.status_code == 200:
                await asyncio.sleep(0.05)
                ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert f"(pid {relay.pid}) is dead" in ready.json()["checks"]["streaming"]["detail"]
    finally:
        relay.send_signal(signal.SIGCONT)
        relay.kill()
        await relay.wait()


async def test_a_stopped_consumer_member_process_fails_readiness_until_it_resumes(
    db: tuple[str, fs.EventStore, StreamingState], tmp_path: pathlib.Path
) -> None:
    require("NATS", "127.0.0.1", 4222)
    _, store, state = db
    prefix = f"fstest{uuid.uuid4().hex[:10]}"
    member = await start(
        str(MEMBER), f"{tmp_path}/events.db", "nats://127.0.0.1:4222", prefix, "m-1"
    )
    check = StreamingStatus(state, store, expected=["consumer:billing"])
    try:
        detail = await stop_and_resume(member, check)
        assert "consumer billing: m-1 on " in detail
        assert f"(pid {member.pid}) is dead" in detail
    finally:
        member.kill()
        await member.wait()
        broker = await open_broker("nats://127.0.0.1:4222", prefix=prefix, partitions=2)
        await broker.destroy()
        await broker.close()
