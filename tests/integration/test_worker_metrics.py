"""``--metrics-port`` of the worker commands: the process's registry, scraped over HTTP."""

from __future__ import annotations

import asyncio
import json
import pathlib
import signal
import socket

import httpx
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

import factstream as fs
from factstream.cli.app import app
from factstream.streaming import open_streaming_state
from factstream.streaming.heartbeats import component_status

from .worker_processes import metrics_port, start_cli, stop


def families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        family.name: [(sample.labels, sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }


async def test_the_relay_serves_its_metrics_and_every_relays_heartbeat(
    tmp_path: pathlib.Path,
) -> None:
    url = f"sqlite:///{tmp_path}/events.db"
    async with fs.connect(url) as store:
        await store.append("order-1", [fs.NewEvent("Placed", {})])
    log = tmp_path / "relay.log"
    relay = await start_cli(
        log, "streaming", "relay", "--store", url, "--broker", "memory://",
        "--name", "scraped", "--heartbeat-interval", "0.1", "--metrics-port", "0",
    )  # fmt: skip
    try:
        port = await metrics_port(relay, log)
        async with httpx.AsyncClient() as client, asyncio.timeout(30):
            while True:
                response = await client.get(f"http://127.0.0.1:{port}/metrics")
                assert response.status_code == 200
                found = families(response.text)
                beats = found.get("factstream_heartbeat_age_seconds", [])
                if beats and found.get("factstream_lag_events"):  # once active: a lag
                    break
                await asyncio.sleep(0.05)
        [(labels, age)] = beats
        assert labels["component"] == "relay"
        assert labels["name"].startswith("scraped/relay-")
        assert 0 <= age < 30
        [(lag_labels, lag)] = found["factstream_lag_events"]
        assert lag_labels == labels
        assert lag >= 0
        assert "factstream_append_duration_seconds" in found  # the whole catalogue is served

        relay.send_signal(signal.SIGTERM)  # a deploy: the relay stops cleanly, not dead
        async with asyncio.timeout(30):
            assert await relay.wait() == 0
    finally:
        await stop(relay)
    state = await open_streaming_state(url)
    try:
        [stopped] = await component_status(state, include_stopped=True)
    finally:
        await state.close()
    assert (stopped.label, stopped.state, stopped.pid) == (labels["name"], "stopped", relay.pid)


def test_a_taken_metrics_port_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner(env={"COLUMNS": "200"}).invoke(
            app,
            [
                "streaming", "relay", "--store", f"sqlite:///{tmp_path}/e.db",
                "--broker", "memory://", "--metrics-port", str(port),
            ],
        )  # fmt: skip
    assert result.exit_code == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.output


def test_a_metrics_port_out_of_range_is_refused(tmp_path: pathlib.Path) -> None:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app,
        [
            "streaming", "relay", "--store", f"sqlite:///{tmp_path}/e.db",
            "--broker", "memory://", "--metrics-port", "70000",
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Invalid value for '--metrics-port'" in " ".join(result.output.split())


async def test_log_format_json_makes_the_workers_records_json_lines(
    tmp_path: pathlib.Path,
) -> None:
    log = tmp_path / "relay.log"
    relay = await start_cli(
        log, "--log-format", "json", "--log-level", "info", "streaming", "relay",
        "--store", f"sqlite:///{tmp_path}/events.db", "--broker", "memory://",
    )  # fmt: skip
    try:
        async with asyncio.timeout(30):
            while "is active" not in (text := await asyncio.to_thread(log.read_text)):
                assert relay.returncode is None, text
                await asyncio.sleep(0.05)
    finally:
        await stop(relay)
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    [active] = [r for r in records if "is active" in r["message"]]
    assert active["level"] == "INFO"
    assert active["logger"] == "factstream.streaming.relay"
    assert {"time", "message"} <= set(active)


def test_bad_log_options_are_refused(tmp_path: pathlib.Path) -> None:
    runner = CliRunner(env={"COLUMNS": "200"})
    bad_format = runner.invoke(app, ["--log-format", "xml", "streaming", "--help"])
    assert bad_format.exit_code == 2
    assert "'xml' is not a log format: use text or json" in " ".join(bad_format.output.split())
    bad_level = runner.invoke(app, ["--log-level", "loud", "streaming", "--help"])
    assert bad_level.exit_code == 2
    assert "unknown log level 'loud'" in " ".join(bad_level.output.split())
