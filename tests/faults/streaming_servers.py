"""Private nats-server / redis-server processes for the fault tests (own ports, own dirs)."""

from __future__ import annotations

import pathlib
import shutil
import signal
import socket
import subprocess
import time

import pytest

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


class Server:
    """One server process that can be stopped and started again on the same port and dir."""

    def __init__(self, args: list[str], port: int, log: pathlib.Path) -> None:
        self.args = args
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        wait_listening(self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


def nats_server(
    folder: pathlib.Path, name: str = "n1", cluster_port: int | None = None, routes: str = ""
) -> Server:
    if not pathlib.Path(NATS_SERVER).exists():
        pytest.skip("nats-server is not installed")
    port = free_port()
    store = folder / name
    store.mkdir(parents=True, exist_ok=True)
    args = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store), "-n", name]
    if cluster_port is not None:
        args += ["--cluster_name", "fs", "--cluster", f"nats://127.0.0.1:{cluster_port}"]
        args += ["--routes", routes]
    return Server(args, port, folder / f"{name}.log")


def redis_server(folder: pathlib.Path) -> Server:
    if not pathlib.Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed")
    port = free_port()
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(folder)]
    return Server(args, port, folder / "redis.log")
