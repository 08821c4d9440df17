"""``factstream serve`` as a process: spans exported to an OTLP receiver named by
OTEL_EXPORTER_OTLP_ENDPOINT, and uvicorn's own records as JSON lines with --log-format json."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import socket
import sys

import httpx

from tests.unit.observability.test_setup import Receiver, exported_spans
from tests.unit.observability.test_setup import receiver as receiver


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_serve_exports_request_spans_and_logs_json(
    receiver: Receiver, tmp_path: pathlib.Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": "served",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from factstream.cli import main; main()",
        "--log-format", "json", "--log-level", "info",
        "serve", "--store", f"sqlite:///{tmp_path}/served.db", "--port", str(port),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            async with asyncio.timeout(30):
                while True:
                    try:
                        live = await client.get("/health/live")
                        break
                    except httpx.ConnectError:
                        assert process.returncode is None, "factstream serve exited early"
                        await asyncio.sleep(0.05)
            assert live.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert receiver.arrived.wait(10)  # the exit flushed the batch
    names = []
    for path, _, body in receiver.received:
        assert path == "/v1/traces"
        attributes, spans = exported_spans(body)
        assert attributes["service.name"] == "served"
        names += spans
    assert "GET /health/live" in names
    records = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert any(
        r["logger"].startswith("uvicorn") and "startup complete" in r["message"] for r in records
    ), stderr.decode()
