"""Heartbeats of relays and consumer-group members: stored, read back, dead, stuck, exported."""

from __future__ import annotations

import asyncio
import logging
import pathlib
import time
from collections.abc import AsyncIterator

import pytest
from typer.testing import CliRunner

from factstream import MemoryEventStore, NewEvent, RecordedEvent
from factstream.cli.app import app
from factstream.http import StreamingStatus
from factstream.observability import Metrics
from factstream.observability.streaming import StreamingMetrics
from factstream.streaming import (
    ConsumerGroup,
    GroupSettings,
    MemoryBroker,
    MemoryStreamingState,
    Relay,
    RelaySettings,
    StreamingState,
    open_streaming_state,
)
from factstream.streaming.heartbeats import (
    Heartbeat,
    Progress,
    component_status,
    heartbeat_store,
    member_heartbeat,
    relay_heartbeat,
)
from factstream.streaming.state import Beat, StoredBeat
from tests.unit.streaming.test_state import state as state

from .helpers import running, wait_until

FAST_RELAY = RelaySettings(lease_ttl=0.6, ack_timeout=1.0, backoff_initial=0.05, backoff_max=0.2)
FAST_GROUP = GroupSettings(fetch_timeout=0.05, lease_ttl=0.6)


def _beat(member: str, *, every: float = 1.0, state: str = "running", lag: int = 0) -> Beat:
    return Beat("consumer", "billing", member, "host-a", 4242, state, True, 7, lag, every)


async def _until_state(
    state: StreamingState, member: str, wanted: str, stuck_after: float = 60.0
) -> list[str]:
    """Poll until ``member`` has state ``wanted``; the descriptions of the unhealthy."""
    async with asyncio.timeout(20):
        while True:
            found = {s.member: s for s in await component_status(state, stuck_after=stuck_after)}
            if member in found and found[member].state == wanted:
                return [s.describe() for s in found.values()]
            await asyncio.sleep(0.02)


@pytest.fixture
async def store() -> AsyncIterator[MemoryEventStore]:
    opened = await MemoryEventStore.open()
    yield opened
    await opened.close()


async def test_heartbeats_are_saved_read_back_and_forgotten(state: StreamingState) -> None:
    beats = heartbeat_store(state)
    await beats.save_heartbeat(_beat("m-2", lag=3), progress_age=5.0)
    await beats.save_heartbeat(_beat("m-1"), progress_age=0.0)
    await beats.save_heartbeat(_beat("m-1", state="stopped"), progress_age=1.0)  # replaces
    stored = await beats.load_heartbeats()
    assert [(s.beat.member, s.beat.state, s.beat.lag) for s in stored] == [
        ("m-1", "stopped", 0),
        ("m-2", "running", 3),
    ]
    first: StoredBeat = stored[0]
    assert first.beat == _beat("m-1", state="stopped")
    assert 0 <= first.heartbeat_age < 5
    assert 4 < stored[1].progress_age < 60
    assert await beats.forget_heartbeats(older_than=3600) == 0
    await asyncio.sleep(0.05)
    assert await beats.forget_heartbeats(older_than=0.01) == 2
    assert await beats.load_heartbeats() == []


async def test_a_component_that_stops_beating_is_dead_and_named(state: StreamingState) -> None:
    await heartbeat_store(state).save_heartbeat(_beat("m-1", every=0.05), progress_age=0.0)
    problems = await _until_state(state, "m-1", "dead")
    assert problems[0].startswith("consumer billing: m-1 on host-a (pid 4242) is dead")
    assert "last heartbeat" in problems[0]


async def test_a_relay_heartbeat_reports_position_lag_and_a_clean_stop(
    store: MemoryEventStore,
) -> None:
    state = MemoryStreamingState()
    relay = Relay(store, MemoryBroker(2), state, FAST_RELAY, owner="relay-1")
    for n in range(5):
        await store.append(f"order-{n}", [NewEvent("Placed", {"n": n})])
    async with running(relay.run()), relay_heartbeat(relay, interval=0.05):
        await relay.wait_for(5, timeout=20)
        async with asyncio.timeout(20):
            while True:
                [status] = await component_status(state, head=5)
                if status.position == 5:
                    break
                await asyncio.sleep(0.02)
        assert (status.component, status.name, status.member) == ("relay", "default", "relay-1")
        assert (status.state, status.lag, status.label) == ("running", 0, "default/relay-1")
        check = StreamingStatus(state, store, expected=["relay:default"])
        healthy = await check.check()
        assert healthy.healthy, healthy.detail
        assert healthy.observed["relay:default"]["relay-1"]["state"] == "running"
    assert await component_status(state) == []  # stopped cleanly: not listed ...
    [stopped] = await component_status(state, include_stopped=True)  # ... unless asked
    assert stopped.state == "stopped"
    unhealthy = await StreamingStatus(state, store, expected=["relay:default"]).check()
    assert not unhealthy.healthy
    assert unhealthy.detail == "relay:default: no active member"


async def test_a_standby_relay_beats_as_standby(store: MemoryEventStore) -> None:
    state = MemoryStreamingState()
    broker = MemoryBroker(2)
    active = Relay(store, broker, state, FAST_RELAY, owner="relay-a")
    standby = Relay(store, broker, state, FAST_RELAY, owner="relay-b")
    async with running(active.run()), relay_heartbeat(active, interval=0.05):
        await wait_until(lambda: active.status.active)
        async with running(standby.run()), relay_heartbeat(standby, interval=0.05):
            await _until_state(state, "relay-b", "standby")
            assert (await StreamingStatus(state, store).check()).healthy


async def test_a_member_whose_handler_hangs_is_stuck_until_it_moves(
    store: MemoryEventStore,
) -> None:
    state = MemoryStreamingState()
    broker = MemoryBroker(1)
    release = asyncio.Event()

    async def handler(event: RecordedEvent) -> None:
        await release.wait()

    group = ConsumerGroup("billing", broker, store, state, handler, FAST_GROUP, member="m-1")
    relay = Relay(store, broker, state, FAST_RELAY)
    for n in range(3):
        await store.append("order-1", [NewEvent("Placed", {"n": n})])
    async with (
        running(relay.run(), group.run()),
        member_heartbeat(group, interval=0.05),
    ):
        problems = await _until_state(state, "m-1", "stuck", stuck_after=0.2)
        assert any(
            p.startswith("consumer billing: m-1 on ") and "is stuck (" in p for p in problems
        )
        check = StreamingStatus(state, store, stuck_after=0.2)
        stuck = await check.check()
        assert not stuck.healthy
        assert "m-1" in stuck.detail
        assert "events behind, no progress for" in stuck.detail
        release.set()
        await _until_state(state, "m-1", "running", stuck_after=0.2)
        assert (await check.check()).healthy


async def test_a_component_ended_by_an_error_reports_failed(store: MemoryEventStore) -> None:
    state = MemoryStreamingState()

    async def report() -> Progress:
        return Progress(True, 1, 0, "RuntimeError('boom')")

    with pytest.raises(RuntimeError, match="boom"):
        async with Heartbeat(state, "consumer", "billing", "m-9", report, interval=0.05):
            raise RuntimeError("boom")
    [failed] = await component_status(state)
    assert failed.state == "failed"
    assert failed.describe().endswith("is failed: RuntimeError('boom')")


async def test_a_failing_beat_is_logged_and_the_next_one_is_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = MemoryStreamingState()
    calls = 0

    async def report() -> Progress:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("database gone for a moment")
        return Progress(True, calls, 0)

    with caplog.at_level(logging.WARNING, "factstream.streaming.heartbeats"):
        async with Heartbeat(state, "relay", "default", "r-1", report, interval=0.02):
            await wait_until(lambda: calls >= 4)
    assert "heartbeat failed" in caplog.text
    [stored] = await state.load_heartbeats()
    assert stored.beat.position >= 3


async def test_bad_settings_are_refused_clearly() -> None:
    class NoBeats(MemoryStreamingState):
        save_heartbeat = None  # type: ignore[assignment]

    with pytest.raises(TypeError, match="does not keep heartbeats"):
        heartbeat_store(NoBeats())

    async def report() -> Progress:
        return Progress(True, 0, 0)

    state = MemoryStreamingState()
    with pytest.raises(ValueError, match="interval must be > 0"):
        Heartbeat(state, "relay", "r", "m", report, interval=0)
    with pytest.raises(ValueError, match="forget_after must be longer"):
        Heartbeat(state, "relay", "r", "m", report, interval=1.0, forget_after=2.0)
    with pytest.raises(ValueError, match="relay:<name> or consumer:<group>"):
        StreamingStatus(state, expected=["projection:x"])
    beat = Heartbeat(state, "relay", "r", "m", report, interval=0.05)
    await beat.start()
    with pytest.raises(RuntimeError, match="already running"):
        await beat.start()
    await beat.stop()


async def test_heartbeat_ages_and_lag_are_exported_and_removed(store: MemoryEventStore) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    state = MemoryStreamingState()
    metrics = Metrics()
    exporter = StreamingMetrics(metrics, state, store)
    await heartbeat_store(state).save_heartbeat(_beat("m-1", lag=12), progress_age=0.0)
    await exporter.refresh()

    def samples() -> dict[tuple[str, str], float]:
        return {
            (s.name, s.labels["name"]): s.value
            for family in text_string_to_metric_families(metrics.exposition().decode())
            for s in family.samples
            if s.labels.get("component") == "consumer"
        }

    exported = samples()
    assert exported[("factstream_lag_events", "billing/m-1")] == 12
    assert 0 <= exported[("factstream_heartbeat_age_seconds", "billing/m-1")] < 60
    await heartbeat_store(state).save_heartbeat(_beat("m-1", state="stopped"), progress_age=0.0)
    await exporter.refresh()
    assert samples() == {}


def test_the_status_command_lists_components_and_fails_on_a_dead_one(
    tmp_path: pathlib.Path,
) -> None:
    url = f"sqlite:///{tmp_path}/events.db"

    async def seed(*beats: Beat) -> None:
        state = await open_streaming_state(url)
        for beat in beats:
            await heartbeat_store(state).save_heartbeat(beat, progress_age=0.0)
        await state.close()

    runner = CliRunner(env={"COLUMNS": "200"})
    asyncio.run(seed(_beat("m-1", every=3600)))
    healthy = runner.invoke(app, ["streaming", "status", "--store", url])
    assert healthy.exit_code == 0, healthy.output
    assert "m-1" in healthy.output
    assert "running" in healthy.output
    asyncio.run(seed(_beat("m-2", every=0.01)))
    time.sleep(0.1)  # more than three of m-2's intervals: it is dead
    dead = runner.invoke(app, ["streaming", "status", "--store", url])
    assert dead.exit_code == 1, dead.output
    assert "m-2" in dead.output
    assert "dead" in dead.output
