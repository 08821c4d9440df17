"""A real Prometheus scrapes two relay workers; one is stopped with SIGSTOP and the repository's
``FactstreamComponentDead`` rule fires for it.

The stopped process cannot be scraped any more: its heartbeat age comes from the other worker,
which exports the heartbeats of every relay and consumer member in the store's database. The
rule is loaded from ``deploy/prometheus`` with its threshold and ``for:`` shortened (the only
change), so the test takes seconds instead of minutes.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
import signal
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import factstream as fs
from factstream.streaming import open_streaming_state
from factstream.streaming.heartbeats import component_status
from tests.services import REQUIRED

from .worker_processes import metrics_port, start_cli, stop

PROMETHEUS = "/usr/bin/prometheus"
RULES = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
DEAD_RULE = re.compile(
    r"(- alert: FactstreamComponentDead\n.*?\(factstream_heartbeat_age_seconds\) > )60"
    r"(\n\s+for: )1m",
    re.DOTALL,
)


def shortened_rules(dead_after: str, hold: str) -> str:
    """The repository's rules, with FactstreamComponentDead's threshold and ``for:`` replaced."""
    text, count = DEAD_RULE.subn(
        rf"\g<1>{dead_after}\g<2>{hold}", (RULES / "factstream-alerts.yml").read_text()
    )
    assert count == 1, "FactstreamComponentDead changed shape: update this test's pattern"
    return text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def prometheus_binary() -> str:
    if os.access(PROMETHEUS, os.X_OK):
        return PROMETHEUS
    message = f"{PROMETHEUS} is not installed (Debian package 'prometheus')"
    if REQUIRED:
        pytest.fail(f"{message}, and FACTSTREAM_REQUIRE_SERVICES=1 requires it")
    pytest.skip(message)


@pytest.fixture
async def prometheus(
    prometheus_binary: str, tmp_path: pathlib.Path
) -> AsyncIterator[tuple[str, pathlib.Path]]:
    """A Prometheus on its own loopback port; yields its URL and the targets file to fill."""
    (tmp_path / "rules.yml").write_text(shortened_rules("1", "1s"))
    targets = tmp_path / "targets.json"
    targets.write_text("[]")
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 250ms\n  evaluation_interval: 250ms\n"
        "rule_files: [rules.yml]\n"
        "scrape_configs:\n  - job_name: factstream\n    file_sd_configs:\n"
        f"      - files: [{targets}]\n        refresh_interval: 1s\n"
    )
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        server = await asyncio.create_subprocess_exec(
            prometheus_binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=log,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client, asyncio.timeout(30):
            while True:
                try:
                    if (await client.get(f"{url}/-/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.returncode is None, (tmp_path / "prometheus.log").read_text()
                await asyncio.sleep(0.1)
        yield url, targets
    finally:
        if server.returncode is None:
            server.terminate()
        await server.wait()


async def firing(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    response = await client.get(f"{url}/api/v1/alerts")
    response.raise_for_status()
    return [a for a in response.json()["data"]["alerts"] if a["state"] == "firing"]


async def test_prometheus_fires_component_dead_for_a_stopped_relay(
    prometheus: tuple[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    url, targets = prometheus
    store = f"sqlite:///{tmp_path}/events.db"
    async with fs.connect(store) as opened:
        await opened.append("order-1", [fs.NewEvent("Placed", {})])
    workers = []
    ports = []
    try:
        for n in range(2):  # one active relay and one standby, each serving metrics
            log = tmp_path / f"relay-{n}.log"
            worker = await start_cli(
                log, "streaming", "relay", "--store", store, "--broker", "memory://",
                "--heartbeat-interval", "0.2", "--metrics-port", "0",
            )  # fmt: skip
            workers.append(worker)
            ports.append(await metrics_port(worker, log))
        targets.write_text(
            '[{"targets": [%s]}]' % ", ".join(f'"127.0.0.1:{p}"' for p in ports)  # noqa: UP031
        )
        victim = workers[0]
        state = await open_streaming_state(store)
        try:
            async with asyncio.timeout(30):
                while True:
                    owners = {s.pid: s.label for s in await component_status(state)}
                    if victim.pid in owners and len(owners) == 2:
                        break
                    await asyncio.sleep(0.05)
        finally:
            await state.close()
        async with httpx.AsyncClient() as client:
            async with asyncio.timeout(30):  # both targets scraped, nothing firing
                while True:
                    up = await client.get(f"{url}/api/v1/query", params={"query": "up == 1"})
                    if len(up.json()["data"]["result"]) == 2:
                        break
                    await asyncio.sleep(0.1)
            assert [
                a for a in await firing(client, url) if "Dead" in a["labels"]["alertname"]
            ] == []

            victim.send_signal(signal.SIGSTOP)
            try:
                async with asyncio.timeout(60):
                    while True:
                        dead = [
                            a
                            for a in await firing(client, url)
                            if a["labels"]["alertname"] == "FactstreamComponentDead"
                        ]
                        if dead:
                            break
                        await asyncio.sleep(0.2)
            finally:
                victim.send_signal(signal.SIGCONT)
        [alert] = dead
        assert alert["labels"]["component"] == "relay"
        assert alert["labels"]["name"] == owners[victim.pid]
        assert alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["summary"].startswith(f"relay {owners[victim.pid]} has not")
    finally:
        for worker in workers:
            await stop(worker)


def test_the_shortened_rules_differ_only_in_the_dead_rule() -> None:
    original = (RULES / "factstream-alerts.yml").read_text()
    shortened = shortened_rules("1", "1s")
    changed = [
        (a, b) for a, b in zip(original.splitlines(), shortened.splitlines(), strict=True) if a != b
    ]
    assert changed == [
        (
            "        expr: max by (component, name) (factstream_heartbeat_age_seconds) > 60",
            "        expr: max by (component, name) (factstream_heartbeat_age_seconds) > 1",
        ),
        ("        for: 1m", "        for: 1s"),
    ]
