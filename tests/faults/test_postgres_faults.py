"""PostgreSQL going away: restarts, outages, killed sessions and replies lost after a commit.

Tests that stop or restart a server run their own instance (``initdb``/``pg_ctl`` into a temporary
folder, on a free port), so the shared server on 5432 keeps serving the other tests. Tests that
only cut connections use a small TCP proxy in front of the shared server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

import factstream as fs
from factstream.store.postgres import PostgresEventStore
from tests import services

pytestmark = pytest.mark.postgres

_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")


# -- a server of our own --------------------------------------------------------------------


class Server:
    """A throwaway PostgreSQL instance; as root, its commands run as the ``postgres`` user."""

    def __init__(self) -> None:
        self.folder = pathlib.Path(tempfile.mkdtemp(prefix="factstream-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_postgres, *args], check=True, capture_output=True, timeout=60)

    def initdb(self) -> None:
        self._run(
            str(_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off"
        )
        self._run(
            str(_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.folder / "log"), "-w", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(str(_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    if not (_BIN / "initdb").exists():
        message = f"PostgreSQL server binaries are not in {_BIN}"
        if services.REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    made = Server()
    try:
        made.initdb()
        made.start()
        yield made
    finally:
        made.remove()


@pytest.fixture
def own_url(server: Server) -> str:
    return f"{server.url}?schema=t_{uuid.uuid4().hex}"


async def _in_thread(work: Any, *args: Any) -> None:
    await asyncio.to_thread(work, *args)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_writer_and_subscription_carry_on_through_a_restart(
    server: Server, own_url: str, mode: str
) -> None:
    store = await PostgresEventStore.open(own_url, reconnect_timeout=60, poll_interval=0.2)
    watcher = await PostgresEventStore.open(own_url, reconnect_timeout=60, poll_interval=0.2)
    received: list[fs.RecordedEvent] = []
    appended = 0
    outages = 0
    restarted_at = 0
    some_written = asyncio.Event()
    restarted = asyncio.Event()

    async def follow() -> None:
        async with watcher.subscribe() as events:
            async for event in events:
                received.append(event)
                if event.type == "End":
                    return

    async def write() -> None:
        # Appends one by one until 50 more went in after the restart (however fast the
        # store is, it is still at work while the server goes down and comes back), then ends.
        nonlocal appended, outages
        after_restart = 0
        while after_restart < 50:
            batch = [fs.NewEvent("T", {"n": appended})]
            while True:
                try:
                    await store.append(f"s-{appended % 7}", batch)
                    break
                except fs.StoreUnavailable:
                    outages += 1  # the same batch again: idempotent
            appended += 1
            if appended == 100:
                some_written.set()
            if restarted.is_set():
                after_restart += 1
        await store.append("end", [fs.NewEvent("End", {})])

    try:
        async with asyncio.timeout(100):
            following = asyncio.create_task(follow())
            writing = asyncio.create_task(write())
            await some_written.wait()
            await _in_thread(server.stop, mode)
            await _in_thread(server.start)
            restarted_at = appended
            restarted.set()
            await writing
            await following
        log = [e async for e in store.read_all()]
    finally:
        await watcher.close()
        await store.close()
    assert 100 <= restarted_at < appended  # appends before, across and after the restart
    assert len(log) == appended + 1
    written = [e.data["n"] for e in log if e.type == "T"]
    assert sorted(written) == list(range(appended))  # each batch once
    assert received == log  # everything exactly once, in order


async def test_appends_and_reads_fail_clearly_while_the_server_is_down_then_recover(
    server: Server, own_url: str
) -> None:
    store = await PostgresEventStore.open(own_url, reconnect_timeout=0.3)
    try:
        await store.append("s", [fs.NewEvent("T", {"n": 0})])
        batch = [fs.NewEvent("T", {"n": 1}), fs.NewEvent("T", {"n": 2})]
        await _in_thread(server.stop, "fast")
        try:
            with pytest.raises(fs.StoreUnavailable, match="whole or not at all"):
                await store.append("s", batch, expected_version=1)
            with pytest.raises(fs.StoreUnavailable, match="cannot reach PostgreSQL"):
                await store.read("s")
        finally:
            await _in_thread(server.start)
        result = await store.append("s", batch, expected_version=1)
        assert (result.version, result.first_position, result.position) == (3, 2, 3)
        assert await store.append("s", batch, expected_version=1) == result  # idempotent
        assert [e.data["n"] for e in await store.read("s")] == [0, 1, 2]
    finally:
        await store.close()


# -- connections cut in front of the shared server ------------------------------------------


class Proxy:
    """Forwards TCP to the shared server; can swallow a reply and cut, or refuse connections."""

    _READY_FOR_QUERY = b"Z\x00\x00\x00\x05"

    def __init__(self) -> None:
        self.refuse = False
        self.cut_after_next_reply = False
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 5432)
        self._writers += [writer, up_writer]
        await asyncio.gather(
            self._pump(reader, up_writer, None),
            self._pump(up_reader, writer, (writer, up_writer)),
            return_exceptions=True,
        )

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        replies: tuple[asyncio.StreamWriter, asyncio.StreamWriter] | None,
    ) -> None:
        try:
            while data := await source.read(65536):
                if replies is not None and self.cut_after_next_reply:
                    if self._READY_FOR_QUERY in data:  # the transaction has ended on the server
                        self.cut_after_next_reply = False
                        self.cuts += 1
                        for end in replies:
                            end.transport.abort()
                        return
                    continue  # swallowed
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    services.require("PostgreSQL", "127.0.0.1", 5432)
    made = Proxy()
    await made.start()
    yield made
    await made.close()


@pytest.fixture
async def proxied(proxy: Proxy) -> AsyncIterator[tuple[str, str]]:
    schema = f"t_{uuid.uuid4().hex}"
    yield f"postgresql://postgres@127.0.0.1:{proxy.port}/test?schema={schema}", schema
    conn = await asyncpg.connect(services.POSTGRES_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def test_a_reply_lost_after_commit_is_answered_by_the_retry(
    proxy: Proxy, proxied: tuple[str, str]
) -> None:
    url, _ = proxied
    store = await PostgresEventStore.open(url, notify_interval=None)
    try:
        # A batch of the same shape first, so the statement is prepared (the cut must hit the
        # append's own reply, not its preparation).
        await store.append("s", [fs.NewEvent("T", {"n": n}) for n in (0, 1)])
        batch = [fs.NewEvent("T", {"n": n}) for n in (2, 3, 4)]
        proxy.cut_after_next_reply = True
        result = await store.append("s", batch, expected_version=2)
        assert proxy.cuts == 1
        log = await store.read("s")
        assert [e.data["n"] for e in log] == [0, 1, 2, 3, 4]  # stored once
        assert (result.version, result.first_position, result.position) == (5, 3, 5)
    finally:
        await store.close()


async def test_retrying_a_batch_whose_reply_was_lost_returns_the_original_result(
    proxy: Proxy, proxied: tuple[str, str]
) -> None:
    url, _ = proxied
    store = await PostgresEventStore.open(url, notify_interval=None, reconnect_timeout=0.3)
    try:
        await store.append("s", [fs.NewEvent("T", {"n": n}) for n in (0, 1)])  # prepared
        batch = [fs.NewEvent("T", {"n": n}) for n in (2, 3)]
        proxy.cut_after_next_reply = True
        proxy.refuse = True  # and the server stays unreachable past reconnect_timeout
        with pytest.raises(fs.StoreUnavailable, match="append the same events"):
            await store.append("s", batch, expected_version=2)
        proxy.refuse = False
        result = await store.append("s", batch, expected_version=2)  # committed the first time
        assert (result.version, result.first_position, result.position) == (4, 3, 4)
        assert [e.data["n"] for e in await store.read("s")] == [0, 1, 2, 3]
    finally:
        await store.close()


async def test_a_session_killed_mid_append_is_retried_whole(
    proxied: tuple[str, str],
) -> None:
    url, schema = proxied
    from factstream.store.postgres.connection import lock_key

    store = await PostgresEventStore.open(url)
    admin = await asyncpg.connect(services.POSTGRES_URL)
    try:
        # A batch of the same shape first: its statement is prepared (and its types known)
        # before anything is held.
        await store.append("s", [fs.NewEvent("T", {"n": n}) for n in (0, 1)])
        # Make the next append wait inside its statement: hold the append lock (groups take
        # it) and an uncommitted row at the next position (a lone append, which runs without
        # the lock, waits on its unique index entry).
        transaction = admin.transaction()
        await transaction.start()
        await admin.execute("SELECT pg_advisory_xact_lock($1)", lock_key("append", schema))
        await admin.execute(
            f'INSERT INTO "{schema}".events (position, id, stream_id, version, type, '
            "schema_version, data, recorded_at) "
            "VALUES (3, gen_random_uuid(), 'blocker', 1, 'T', 1, '{}'::bytea, now())"
        )
        append = asyncio.create_task(
            store.append("s", [fs.NewEvent("T", {"n": n}) for n in (2, 3)], expected_version=2)
        )
        killed = 0
        while not killed:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'factstream-writer' AND wait_event_type = 'Lock' "
                "AND query LIKE $1",
                f"%{schema}%",
            )
            await asyncio.sleep(0.01)
        # Releases the lock and drops the blocking row; the writer has reconnected and retries.
        await transaction.rollback()
        result = await append
        assert (result.version, result.position) == (4, 4)
        assert [e.data["n"] for e in await store.read("s")] == [0, 1, 2, 3]
    finally:
        await admin.close()
        await store.close()
