"""The app behind a real uvicorn on loopback: the live feed over TCP, client disconnects,
and ``factstream serve`` as a process."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import socket
import subprocess
import sys

import httpx
import msgspec
import pytest

import factstream as fs
from factstream.http import HttpSettings, create_app
from tests.unit.http.support import TOKEN, serving

ROOT = pathlib.Path(__file__).resolve().parents[2]


async def _sse_events(response: httpx.Response, count: int) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            found.append(msgspec.json.decode(line[6:]))
            if len(found) == count:
                break
    return found


async def test_the_live_feed_over_tcp_resumes_after_a_dropped_connection(
    tmp_path: pathlib.Path,
) -> None:
    async with fs.connect(f"sqlite:///{tmp_path}/s.db") as store:
        app = create_app(HttpSettings(), store)
        async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
            await store.append("a", [fs.NewEvent("T", {"n": 0})])
            async with client.stream("GET", "/events?from=1") as response:
                assert response.status_code == 200
                writer = asyncio.create_task(
                    store.append("a", [fs.NewEvent("T", {"n": n}) for n in range(1, 5)])
                )
                first = await _sse_events(response, 3)
                await writer
            # The connection is gone; the server notices and drops its subscription.
            for _ in range(1000):
                if app.state.feeds.open == 0:
                    break
                await asyncio.sleep(0.01)
            assert app.state.feeds.open == 0
            last_id = str(first[-1]["position"])
            async with client.stream(
                "GET", "/events?from=1", headers={"Last-Event-ID": last_id}
            ) as response:
                rest = await _sse_events(response, 2)
            assert [e["data"] for e in first + rest] == [{"n": n} for n in range(5)]
        await _let_watcher_finish(store)


async def _let_watcher_finish(store: fs.EventStore) -> None:
    # See tests/unit/http/conftest.py: works around a SQLite store shutdown race.
    watcher = getattr(store, "_watcher", None)
    if watcher is not None:
        async with asyncio.timeout(10):
            await asyncio.shield(watcher)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
async def test_factstream_serve_runs_the_app_and_stops_cleanly(
    tmp_path: pathlib.Path, stop: signal.Signals
) -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "FACTSTREAM_TOKEN": TOKEN}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from factstream.cli import main; main()",
        "serve",
        "--store",
        f"sqlite:///{tmp_path}/served.db",
        "--port",
        str(port),
        "--log-level",
        "warning",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for _ in range(500):  # until it listens (bounded by the test timeout)
                try:
                    live = await client.get("/health/live")
                    break
                except httpx.ConnectError:
                    assert process.returncode is None, "factstream serve exited early"
                    await asyncio.sleep(0.05)
            assert live.status_code == 200
            assert (await client.get("/info")).status_code == 401
            auth = {"Authorization": f"Bearer {TOKEN}"}
            info = await client.get("/info", headers=auth)
            assert info.json()["features"]["metrics"] is True
            metrics = await client.get("/metrics", headers=auth)
            assert "factstream_head_position" in metrics.text
            assert (await client.get("/console")).status_code == 200
    finally:
        process.send_signal(stop)
        async with asyncio.timeout(30):
            _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()


def test_factstream_serve_refuses_a_public_address_without_a_token(tmp_path: pathlib.Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    env.pop("FACTSTREAM_TOKEN", None)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from factstream.cli import main; main()",
            "serve",
            "--store",
            f"sqlite:///{tmp_path}/x.db",
            "--host",
            "0.0.0.0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "needs a bearer token" in result.stderr
