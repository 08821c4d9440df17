"""The composition root: frozen settings in, the whole orders system out.

::

    settings = OrdersSettings(store_url="sqlite:///orders.db")   # memory broker, no Redis
    async with await OrdersSystem.open(settings) as system:
        result = await system.commands.dispatch(CreateOrder(new_order_id(), "ada"))
        view = await system.queries.ask(GetOrder(order_id, after=result.position))

Nothing else in the example reads settings or the environment: this module builds every
collaborator (store, registry, repositories, buses, projection runners, relay, consumer group,
process manager, Redis cache) and passes them in.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import shutil
import tempfile
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import factstream as fs
from factstream.projections import SqlTarget
from factstream.projections.rebuild import rebuild
from factstream.projections.targets import sql_target_from_url
from factstream.streaming import (
    Broker,
    ConsumerGroup,
    GroupSettings,
    Relay,
    RelaySettings,
    StreamingState,
    open_broker,
    open_streaming_state,
)

from .cache import OrderCache
from .domain import registry as build_registry
from .handlers import Repositories, register_handlers
from .projections import OrdersProjection, RevenuePerDay
from .queries import OrderQueryHandler, ReadModelReader, register_queries
from .readmodels import ReadModels
from .saga import OrderFulfilment

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from factstream.observability import Metrics

__all__ = ["OrdersSettings", "OrdersSystem", "derived_urls"]


@dataclass(frozen=True, slots=True)
class OrdersSettings:
    """Everything the orders system is configured by. Defaults need no server.

    Attributes:
        store_url: the event store (``sqlite:///...``, ``postgresql://...?schema=S``,
            ``memory://``).
        broker_url: ``memory://`` (in-process), ``nats://host:4222``, ``redis://host:6379``.
        redis_url: a Redis for the ``get_order`` cache; ``None`` for no cache.
        read_model_url: where the read models live; by default next to the store (a
            ``.readmodels.db`` file beside a SQLite store, schema ``<S>_read`` in PostgreSQL).
        streaming_state_url: relay and consumer checkpoints; by default next to the store.
        redis_prefix: prefix of the cache's keys.
        snapshot_every: snapshot stock streams every this many events.
        max_attempts: runs of a command handler on concurrency conflicts.
        batch_size: most events per projection transaction.
        read_timeout: seconds a query with ``after`` waits for its read model.
        saga: run the relay, the consumer group and the fulfilment process manager.
        relay_name, group_name: names of the relay's checkpoint and of the consumer group.
        heartbeat_interval: projection runners' heartbeats (``None``: none).
    """

    store_url: str = "sqlite:///factstream-orders.db"
    broker_url: str = "memory://"
    redis_url: str | None = None
    read_model_url: str | None = None
    streaming_state_url: str | None = None
    redis_prefix: str = "factstream:orders:"
    snapshot_every: int = 50
    max_attempts: int = 20
    batch_size: int = 500
    read_timeout: float = 5.0
    saga: bool = True
    relay_name: str = "orders"
    group_name: str = "order-fulfilment"
    heartbeat_interval: float | None = 5.0


def derived_urls(store_url: str, scratch: pathlib.Path | None = None) -> tuple[str, str]:
    """The default (read model, streaming state) URLs for a store URL.

    Args:
        scratch: a folder for the read models of a ``memory://`` store.

    Raises:
        fs.UnsupportedUrl: a scheme the orders system does not know.
    """
    parts = urlsplit(store_url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        base = store_url.split("?", 1)[0].removesuffix(".db")
        return f"{base}.readmodels.db", f"{base}.streaming.db"
    if scheme in ("postgresql", "postgres"):
        query = dict(parse_qsl(parts.query))
        schema = query.get("schema", "factstream")
        read = urlunsplit(parts._replace(query=urlencode({**query, "schema": f"{schema}_read"})))
        stream_query = {**query, "streaming_schema": f"{schema}_streaming"}
        streaming = urlunsplit(parts._replace(query=urlencode(stream_query)))
        return read, streaming
    if scheme == "memory":
        if scratch is None:
            raise fs.UnsupportedUrl("a memory:// store needs a scratch folder for its read models")
        return f"sqlite:///{scratch / 'readmodels.db'}", "memory://"
    raise fs.UnsupportedUrl(f"{store_url!r}: use sqlite:///, postgresql:// or memory://")


class OrdersSystem:
    """The running orders system. Build it with :meth:`open`; close it (or ``async with``).

    Args:
        settings: what to connect to.
        metrics: when given, every component records into it: the store is wrapped in an
            ``InstrumentedEventStore`` (appends from commands, the saga and reads) and the
            command bus gets the ``command_telemetry`` middleware. Serve it at ``/metrics``.
        tracer_provider: when given, the store is wrapped in a ``TracingEventStore`` and the
            command bus, projection runners, relay and consumer group open OpenTelemetry spans.

    Attributes:
        commands: the command bus (create, add item, ..., and the saga's stock commands).
        queries: the query bus (``GetOrder``, ``GetOrdersByCustomer``, ``GetRevenuePerDay``).
        store, registry, repositories: the write side (``store`` is the instrumented and
            traced one when metrics or a tracer provider were given).
        read_models: the projection runners by name (rebuild, reset, waiters).
        orders_runner, revenue_runner: the runners of the two read models now.
        relay, group, saga, broker: streaming and the process manager (``None`` without saga).
        cache: the Redis cache, if configured.
    """

    def __init__(
        self,
        settings: OrdersSettings,
        *,
        metrics: Metrics | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.tracer_provider = tracer_provider
        self.registry = build_registry()
        middleware = []
        if metrics is not None or tracer_provider is not None:
            from factstream.observability import command_telemetry

            middleware.append(command_telemetry(metrics, tracer_provider))
        self.commands = fs.CommandBus(max_attempts=settings.max_attempts, middleware=middleware)
        self.queries = fs.QueryBus()
        self.store: fs.EventStore = fs.MemoryEventStore()  # replaced in _start
        self.read_target: SqlTarget
        self.read_models: ReadModels
        self.reader: ReadModelReader
        self.cache: OrderCache | None = None
        self.broker: Broker | None = None
        self.state: StreamingState | None = None
        self.relay: Relay | None = None
        self.group: ConsumerGroup | None = None
        self.saga: OrderFulfilment | None = None
        self.saga_in_flight = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._scratch: pathlib.Path | None = None
        self._closers: list[Any] = []

    @classmethod
    async def open(
        cls,
        settings: OrdersSettings | None = None,
        *,
        metrics: Metrics | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> OrdersSystem:
        """Connect everything and start the runners, the relay and the consumer group
        (``metrics`` and ``tracer_provider``: see the class)."""
        system = cls(settings or OrdersSettings(), metrics=metrics, tracer_provider=tracer_provider)
        try:
            await system._start()
        except BaseException:
            await system.close()
            raise
        return system

    async def _start(self) -> None:
        settings = self.settings
        if settings.store_url.startswith("memory:"):
            self._scratch = pathlib.Path(tempfile.mkdtemp(prefix="factstream-orders-"))
        read_url, state_url = derived_urls(settings.store_url, self._scratch)
        read_url = settings.read_model_url or read_url
        state_url = settings.streaming_state_url or state_url
        self.store = self._observed(await fs.connect(settings.store_url))
        self._closers.append(self.store.close)
        self.repositories = Repositories.over(
            self.store, self.registry, snapshot_every=settings.snapshot_every
        )
        register_handlers(self.commands, self.repositories)

        if settings.redis_url:
            self.cache = OrderCache.from_url(settings.redis_url, prefix=settings.redis_prefix)
            self._closers.append(self.cache.close)
        self.read_target = sql_target_from_url(read_url)
        on_changed = None if self.cache is None else self.cache.invalidate
        runner_options: dict[str, Any] = {
            "batch_size": settings.batch_size,
            "heartbeat_interval": settings.heartbeat_interval,
            "tracer_provider": self.tracer_provider,
        }
        registry = self.registry
        self.read_models = ReadModels(
            self.store,
            self.read_target,
            {
                OrdersProjection.name: lambda: OrdersProjection(registry, on_changed),
                RevenuePerDay.name: lambda: RevenuePerDay(registry),
            },
            runner_options,
        )
        self._closers.append(self.read_models.stop)
        await self.read_models.start()
        self.reader = ReadModelReader(self.read_target)
        await self.reader.open()
        self._closers.append(self.reader.close)
        handler = OrderQueryHandler(
            self.reader,
            self.read_models.waiter(OrdersProjection.name).wait_for,
            self.read_models.waiter(RevenuePerDay.name).wait_for,
            cache=self.cache,
            read_timeout=settings.read_timeout,
        )
        register_queries(self.queries, handler)
        if settings.saga:
            await self._start_streaming(state_url)

    def _observed(self, store: fs.EventStore) -> fs.EventStore:
        """The store with metrics and tracing around it, as configured."""
        if self.metrics is not None:
            from factstream.observability import InstrumentedEventStore

            store = InstrumentedEventStore(store, self.metrics)
        if self.tracer_provider is not None:
            from factstream.observability import TracingEventStore

            store = TracingEventStore(store, self.tracer_provider)
        return store

    async def _start_streaming(self, state_url: str) -> None:
        settings = self.settings
        self.broker = await open_broker(settings.broker_url)
        self._closers.append(self.broker.close)
        self.state = await open_streaming_state(state_url)
        self._closers.append(self.state.close)
        self.saga = saga = OrderFulfilment(self.commands, self.registry)

        async def handle(event: fs.RecordedEvent) -> None:
            self.saga_in_flight += 1
            try:
                await saga(event)
            finally:
                self.saga_in_flight -= 1

        self.relay = Relay(
            self.store,
            self.broker,
            self.state,
            RelaySettings(name=settings.relay_name),
            tracer_provider=self.tracer_provider,
        )
        self.group = ConsumerGroup(
            settings.group_name,
            self.broker,
            self.store,
            self.state,
            handle,
            GroupSettings(lease_ttl=3.0),
            tracer_provider=self.tracer_provider,
        )
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self.relay.run(), name="orders-relay"))
        self._tasks.append(loop.create_task(self.group.run(), name="orders-fulfilment"))

    @property
    def orders_runner(self) -> fs.ProjectionRunner:
        return self.read_models.runner(OrdersProjection.name)

    @property
    def revenue_runner(self) -> fs.ProjectionRunner:
        return self.read_models.runner(RevenuePerDay.name)

    # -- consistency ------------------------------------------------------------------------

    async def wait_for(self, position: int, timeout: float | None = None) -> bool:
        """Whether both read models reach ``position`` within ``timeout`` seconds."""
        orders = await self.orders_runner.wait_for(position, timeout)
        return orders and await self.revenue_runner.wait_for(position, timeout)

    async def saga_lag(self) -> int | None:
        """Messages published and not yet handled by the process manager (``None``: its
        consumer has not taken every partition yet)."""
        if self.group is None or self.broker is None:
            return 0
        lags = await self.group.lag()
        if len(lags) < self.broker.partitions:
            return None
        return sum(lags.values()) + self.saga_in_flight

    async def settled(self) -> bool:
        """Whether everything has caught up with the log's head: relay, process manager and
        both read models (call it again after a pause to be sure nothing is moving)."""
        head = await self.store.head_position()
        if self.relay is not None and self.relay.status.acked_position < head:
            return False
        if await self.saga_lag() != 0:
            return False
        return self.orders_runner.position >= head and self.revenue_runner.position >= head

    async def settle(self, timeout: float = 60.0, poll: float = 0.05) -> int:
        """Wait until :meth:`settled` holds twice in a row with the same head; the head.

        Raises:
            TimeoutError: not within ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                previous: int | None = None
                while True:
                    head = await self.store.head_position()
                    if await self.settled():
                        if head == previous:
                            return head
                        previous = head
                    else:
                        previous = None
                    await asyncio.sleep(poll)
        except TimeoutError:
            raise TimeoutError(
                f"the orders system did not settle within {timeout:g} s: {await self.progress()}"
            ) from None

    async def progress(self) -> str:
        """Where each part stands against the log's head (for messages)."""
        parts = [f"head {await self.store.head_position()}"]
        if self.relay is not None:
            parts.append(f"relay acked {self.relay.status.acked_position}")
        if self.group is not None and self.broker is not None:
            lags = await self.group.lag()
            parts.append(
                f"saga lag {sum(lags.values())} on {len(lags)} of {self.broker.partitions} "
                f"partitions, {self.saga_in_flight} in flight"
            )
        parts.append(f"orders read model at {self.orders_runner.position}")
        parts.append(f"revenue read model at {self.revenue_runner.position}")
        return ", ".join(parts)

    async def rebuild(self, projection: fs.Projection[Any]) -> int:
        """Rebuild a read model from the whole log in shadow tables and swap it in."""
        return await rebuild(self.store, projection, self.read_target)

    # -- lifetime ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the relay, the consumer group and the runners; close every connection."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        while self._closers:
            closer = self._closers.pop()
            with contextlib.suppress(Exception):
                await closer()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
