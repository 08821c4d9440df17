"""In-test implementations of the HTTP layer's ports, built on the real store, and an ASGI
driver for streaming responses (httpx's ASGI transport buffers whole responses, which a live
feed never finishes)."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import datetime as dt
import socket
from collections.abc import AsyncIterator
from typing import Any

import msgspec

import factstream as fs
from factstream.http import (
    CommandCall,
    CommandEndpoint,
    CommandResult,
    DeadLetter,
    NotFound,
    ProblemType,
    ProjectionStatus,
    QueryCall,
    QueryEndpoint,
    Unprocessable,
)

TOKEN = "s3cret-token-for-tests-only"


class CounterModel:
    """A read model of counters, fed by a store subscription: a tiny projection runner.

    Implements ``ConsistencyWaiter`` and ``ProjectionStatusSource``. ``pause()`` holds it
    back so tests can see stale reads.
    """

    def __init__(self, store: fs.EventStore) -> None:
        self._store = store
        self.totals: dict[str, int] = {}
        self.position = 0
        self._moved = asyncio.Condition()
        self._running = asyncio.Event()
        self._running.set()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CounterModel:
        self._task = asyncio.create_task(self._follow())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    async def _follow(self) -> None:
        async with self._store.subscribe(1) as events:
            async for event in events:
                await self._running.wait()
                if event.type == "Incremented":
                    self.totals[event.stream_id] = (
                        self.totals.get(event.stream_id, 0) + event.data["by"]
                    )
                elif event.type == "Created":
                    self.totals.setdefault(event.stream_id, 0)
                async with self._moved:
                    self.position = event.position
                    self._moved.notify_all()

    async def wait_for(self, position: int, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout), self._moved:
                await self._moved.wait_for(lambda: self.position >= position)
        except TimeoutError:
            return self.position >= position
        return True

    async def projection_statuses(self) -> list[ProjectionStatus]:
        return [
            ProjectionStatus(
                name="counters",
                position=self.position,
                state="running" if self._running.is_set() else "paused",
                last_heartbeat=dt.datetime.now(dt.UTC),
            )
        ]


class MemoryDeadLetters:
    """A ``DeadLetterSource`` keeping dead letters in a dict; records what was done."""

    def __init__(self, letters: builtins.list[DeadLetter] = ()) -> None:  # type: ignore[assignment]
        self.letters = {letter.id: letter for letter in letters}
        self.done: builtins.list[tuple[str, str]] = []

    async def list(
        self, *, after: str | None = None, limit: int = 100
    ) -> builtins.list[DeadLetter]:
        ids = sorted(i for i in self.letters if after is None or i > after)
        return [self.letters[i] for i in ids[:limit]]

    async def show(self, dead_letter_id: str) -> DeadLetter | None:
        return self.letters.get(dead_letter_id)

    async def retry(self, dead_letter_id: str) -> bool:
        return self._act(dead_letter_id, "retry")

    async def skip(self, dead_letter_id: str) -> bool:
        return self._act(dead_letter_id, "skip")

    def _act(self, dead_letter_id: str, action: str) -> bool:
        if self.letters.pop(dead_letter_id, None) is None:
            return False
        self.done.append((action, dead_letter_id))
        return True


class Increment(msgspec.Struct, frozen=True):
    by: int
    expected_version: int | None = None


class Created(msgspec.Struct, frozen=True):
    counter_id: str


class Counter(msgspec.Struct, frozen=True):
    counter_id: str
    total: int


class TooMuch(Exception):
    """A domain rule: a counter never passes 1,000."""


def counter_endpoints(store: fs.EventStore, model: CounterModel) -> list[Any]:
    async def create(call: CommandCall[None]) -> CommandResult:
        counter_id = f"counter-{fs.uuid7().hex[-12:]}"
        event = fs.NewEvent(
            "Created", {}, correlation_id=call.correlation_id, causation_id=call.request_id
        )
        result = await store.append(counter_id, [event], expected_version=fs.NO_STREAM)
        return CommandResult(
            result.position, Created(counter_id), location=f"/counters/{counter_id}"
        )

    async def increment(call: CommandCall[Increment]) -> CommandResult:
        counter_id = call.path["counter_id"]
        if not 1 <= call.body.by <= 100:
            raise Unprocessable("a counter moves by 1 to 100 at a time", by=call.body.by)
        events = await store.read(counter_id)
        if not events:
            raise NotFound(f"there is no counter {counter_id!r}")
        total = sum(e.data.get("by", 0) for e in events)
        if total + call.body.by > 1000:
            raise TooMuch(f"counter {counter_id} would pass 1000")
        expected = call.body.expected_version if call.body.expected_version is not None else fs.ANY
        result = await store.append(
            counter_id,
            [
                fs.NewEvent(
                    "Incremented",
                    {"by": call.body.by},
                    correlation_id=call.correlation_id,
                    causation_id=call.request_id,
                )
            ],
            expected_version=expected,
        )
        return CommandResult(result.position, Counter(counter_id, total + call.body.by))

    async def get_counter(call: QueryCall) -> Counter:
        counter_id = call.path["counter_id"]
        if counter_id not in model.totals:
            raise NotFound(f"there is no counter {counter_id!r}")
        return Counter(counter_id, model.totals[counter_id])

    async def broken(call: QueryCall) -> Counter:
        raise RuntimeError("secret internal detail /etc/passwd")

    return [
        CommandEndpoint("/counters", create, response=Created, status_code=201),
        CommandEndpoint(
            "/counters/{counter_id:str}/increment", increment, body=Increment, response=Counter
        ),
        QueryEndpoint("/counters/{counter_id:str}", get_counter, response=Counter, waiter=model),
        QueryEndpoint("/broken", broken, response=Counter),
    ]


PROBLEM_TYPES: dict[type[Exception], ProblemType] = {TooMuch: ProblemType(422, "counter-limit")}


class SseStream:
    """Drives an ASGI app for one streaming GET, reading SSE messages as they are sent."""

    def __init__(
        self, app: Any, path: str, headers: dict[str, str] | None = None, buffer: int = 0
    ) -> None:
        target, _, query = path.partition("?")
        self._scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": target,
            "raw_path": target.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        self._app = app
        self._requested = False
        self._disconnected = asyncio.Event()
        # buffer > 0 makes the "network" hold that many chunks: then the server has to wait.
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=buffer)
        self._started: asyncio.Future[tuple[int, dict[str, str]]] | None = None
        self._buffer = b""
        self._task: asyncio.Task[None] | None = None
        self.status = 0
        self.headers: dict[str, str] = {}

    async def _receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._disconnected.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert self._started is not None
            headers = {k.decode(): v.decode() for k, v in message["headers"]}
            self._started.set_result((message["status"], headers))
        elif message["type"] == "http.response.body":
            if message.get("body"):
                await self._chunks.put(message["body"])
            if not message.get("more_body", False):
                await self._chunks.put(None)

    async def __aenter__(self) -> SseStream:
        self._started = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run())
        self.status, self.headers = await self._started
        return self

    async def _run(self) -> None:
        await self._app(self._scope, self._receive, self._send)
        await self._chunks.put(None)

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    async def disconnect(self) -> None:
        self._disconnected.set()
        assert self._task is not None
        await self._task

    async def body(self) -> bytes:
        """Everything until the response ends (for non-streaming answers)."""
        parts = [self._buffer]
        while (chunk := await self._chunks.get()) is not None:
            parts.append(chunk)
        return b"".join(parts)

    async def message(self) -> dict[str, str] | None:
        """The next SSE message with an id or data (comments skipped); None at the end."""
        while True:
            while b"\n\n" not in self._buffer:
                chunk = await self._chunks.get()
                if chunk is None:
                    return None
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\n\n", 1)
            fields: dict[str, str] = {}
            for line in raw.decode().split("\n"):
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(": ")
                fields[name] = value
            if "id" in fields or "data" in fields:
                return fields

    async def events(self, count: int) -> list[dict[str, Any]]:
        found = []
        for _ in range(count):
            message = await self.message()
            assert message is not None, "the feed ended early"
            event = msgspec.json.decode(message["data"])
            assert int(message["id"]) == event["position"]
            found.append(event)
        return found


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[Any]:
    """The app with its lifespan started, and an httpx client on it."""
    import httpx

    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """The app served by uvicorn on a free loopback port; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(1000):  # bounded by the test's timeout in practice
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        await task  # raises what stopped it
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def populate(store: fs.EventStore, orders: int = 12) -> None:
    """Orders with items, confirmations and the stock reservations they caused."""
    for n in range(orders):
        order = f"order-{1001 + n}"
        correlation = f"checkout-{n:04}"
        created = fs.NewEvent(
            "OrderCreated",
            {"customer_id": f"customer-{n % 4}", "currency": "EUR"},
            correlation_id=correlation,
            metadata={"user_agent": "console-test"},
        )
        item = fs.NewEvent(
            "ItemAdded",
            {"sku": f"sku-{n % 5}", "quantity": 1 + n % 3, "unit_price": "9.99"},
            correlation_id=correlation,
            causation_id=str(created.id),
        )
        await store.append(order, [created, item], expected_version=fs.NO_STREAM)
        if n % 2 == 0:
            confirmed = fs.NewEvent("OrderConfirmed", {}, correlation_id=correlation)
            await store.append(order, [confirmed])
            await store.append(
                f"stock-sku-{n % 5}",
                [
                    fs.NewEvent(
                        "StockReserved",
                        {"order_id": order, "quantity": 1 + n % 3},
                        correlation_id=correlation,
                        causation_id=str(confirmed.id),
                    )
                ],
            )


def sample_dead_letters() -> MemoryDeadLetters:
    parked = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)
    return MemoryDeadLetters(
        [
            DeadLetter(
                id="dl-0001",
                consumer="revenue-per-day",
                stream_id="order-1003",
                position=5,
                event_type="OrderCreated",
                error="KeyError: 'currency' missing in revenue table",
                attempts=5,
                parked_at=parked,
                parked_behind=2,
            ),
            DeadLetter(
                id="dl-0002",
                consumer="customer-orders",
                stream_id="order-1005",
                position=9,
                event_type="ItemAdded",
                error="ValueError: quantity must be positive",
                attempts=3,
                parked_at=parked,
            ),
        ]
    )
