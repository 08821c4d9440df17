"""Streaming scenarios: the relay and consumer groups against NATS JetStream and Redis Streams.

Each variant is ``<scenario>-<broker>`` (``sr-nats``, ``sg-redis``...) and runs in a fresh
worker process against a fresh store (the harness's target) and a fresh broker prefix:

- (sr) relay throughput: the store holds ``stream_events`` events (10 per stream) written
  untimed; timed from ``Relay.run()`` until the broker acknowledged the last one. The raw
  side publishes the same bodies with the bare client as the issue defines the reference
  (nats-py ``publish_async`` with a ``Nats-Msg-Id`` and at most 1,024 pending; redis.asyncio
  ``XADD`` pipelined by 100) and, as an extra figure, nats-py with the relay's headers.
- (sg) consumer group throughput: the relay publishes the events untimed; one member with a
  counting handler, timed from ``ConsumerGroup.run()`` until it handled the last one (its
  lease and its partition readers' setup included). The raw side reads the same relayed
  messages with the bare client (a pull consumer, fetch 256, ``ack()`` each; on Redis two
  references, each on a group of its own: ``XREADGROUP`` COUNT 100 on all the partition keys
  in one call + one ``XACK`` per key, and the pre-project measured limit's form, one key per
  ``XREADGROUP`` COUNT 100 call, its entries acknowledged by one ``XACK`` each, pipelined).
- (sl) latency append -> consumer: this process appends ``stream_rate`` events/s (each
  stamped with ``perf_counter_ns`` before ``append``) and runs the relay; a member in a child
  process records ``perf_counter_ns() - t`` when it handles each event (CLOCK_MONOTONIC, one
  clock for both processes).
- (sm) memory under a slow consumer: the relay publishes ``stream_slow_events`` events while
  a member in a child process handles them slowly (2 ms per event in each partition reader,
  about 4,000 events/s in all), so the backlog waits in the broker; peak RSS (``VmHWM``) of
  both processes.
- (ss) scaling: the relay publishes the events untimed; 1, 2 and 4 member processes join the
  group, and once the partitions are spread (handlers wait for the start signal) the
  members are released; timed until all events are handled.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
import uuid
from typing import Any

import msgspec

import factstream as fs
from factstream.streaming import Relay, RelaySettings, open_broker, open_streaming_state
from factstream.streaming.cloudevents import event_headers

from .latency import summarize as latency_summary
from .payload import EVENT_TYPE, payload
from .procstats import status_kb
from .sizes import Sizes
from .targets import Target

Result = dict[str, Any]
BROKERS = ("nats", "redis")
DEFAULT_URLS = {"nats": "nats://127.0.0.1:4222", "redis": "redis://127.0.0.1:6379/0"}
GROUP = "bench"
EVENTS_PER_STREAM = 10
#: The largest pending window of the raw nats-py publisher (as the relay's broker bound).
RAW_PENDING = 1024


def broker_url(kind: str, urls: dict[str, str]) -> str:
    return urls.get(kind) or DEFAULT_URLS[kind]


async def fill(store: fs.EventStore, count: int) -> None:
    """``count`` events, ``EVENTS_PER_STREAM`` per stream, 1,000 per round of appends."""
    for start in range(0, count, 1000):
        size = min(1000, count - start)
        await asyncio.gather(
            *(
                store.append(
                    f"order-{(start + i) // EVENTS_PER_STREAM}",
                    [
                        fs.NewEvent(EVENT_TYPE, payload(start + i + j))
                        for j in range(min(EVENTS_PER_STREAM, size - i))
                    ],
                )
                for i in range(0, size, EVENTS_PER_STREAM)
            )
        )


class Setup:
    """The store, streaming state and broker of one measurement (a fresh broker prefix)."""

    def __init__(self, target: Target, sizes: Sizes, kind: str, urls: dict[str, str]) -> None:
        self.target = target
        self.sizes = sizes
        self.kind = kind
        self.url = broker_url(kind, urls)
        self.prefix = f"bench{uuid.uuid4().hex[:10]}"
        # On SQLite the checkpoints, leases and marks get a file of their own (as the orders
        # example does): their commits then never wait for the store's write lock, nor it
        # for theirs. PostgreSQL: a schema of their own in the same database.
        self.state_url = (
            f"sqlite:///{target.path}.streaming.db"
            if target.backend == "sqlite"
            else target.factstream_url()
        )
        self.store: fs.EventStore | None = None
        self.state: Any = None
        self.broker: Any = None

    async def __aenter__(self) -> Setup:
        self.store = await fs.connect(self.target.factstream_url())
        self.state = await open_streaming_state(self.state_url)
        self.broker = await open_broker(
            self.url, prefix=self.prefix, partitions=self.sizes.stream_partitions
        )
        await self.broker.setup()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.broker is not None:
            await self.broker.destroy()
            await self.broker.close()
        if self.state is not None:
            await self.state.close()
        if self.store is not None:
            await self.store.close()

    def relay(self) -> Relay:
        assert self.store is not None
        return Relay(
            self.store, self.broker, self.state, RelaySettings(name=self.prefix, lease_ttl=3.0)
        )

    async def relay_all(self, count: int) -> tuple[float, float]:
        """Run the relay until ``count`` events are acknowledged.

        Returns:
            the rate from the first acknowledgement on (steady state: the lease, the broker
            setup and the first page's read are left out, as the raw side leaves out its
            connection and stream), and the rate from ``Relay.run()``.
        """
        relay = self.relay()
        began = time.perf_counter()
        task = asyncio.create_task(relay.run())
        try:
            await relay.wait_for(1, timeout=600)
            first, acked = time.perf_counter(), relay.status.acked_position
            await relay.wait_for(count, timeout=600)
            ended = time.perf_counter()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return (count - acked) / (ended - first), count / (ended - began)

    def member_job(self, mode: str, **extra: Any) -> dict[str, Any]:
        return {
            "mode": mode,
            "store": self.target.factstream_url(),
            "state": self.state_url,
            "broker": self.url,
            "prefix": self.prefix,
            "partitions": self.sizes.stream_partitions,
            "group": GROUP,
            **extra,
        }


# -- (sr) relay throughput ------------------------------------------------------------------


async def _relay_throughput(setup: Setup) -> Result:
    assert setup.store is not None
    count = setup.sizes.stream_events
    await fill(setup.store, count)
    steady, overall = await setup.relay_all(count)
    return {
        "events_per_s": steady,
        "from_start_events_per_s": overall,
        "events": count,
        "process_rss_peak_kb": status_kb("VmHWM"),
    }


async def _raw_nats_publish(url: str, count: int, headers: dict[str, str]) -> float:
    import nats

    client = await nats.connect(url)
    js = client.jetstream(publish_async_max_pending=RAW_PENDING)
    name = f"RAWBENCH{uuid.uuid4().hex[:8]}".upper()
    await js.add_stream(name=name, subjects=[f"{name}.>"])
    bodies = [msgspec.json.encode(payload(i)) for i in range(count)]
    try:
        began = time.perf_counter()
        futures = [
            await js.publish_async(
                f"{name}.p{i % 8}", body, headers={**headers, "Nats-Msg-Id": f"m{i}"}
            )
            for i, body in enumerate(bodies)
        ]
        await asyncio.gather(*futures)
        return count / (time.perf_counter() - began)
    finally:
        await js.delete_stream(name)
        await client.close()


async def _raw_redis_publish(url: str, count: int) -> float:
    import redis.asyncio as aioredis

    client: Any = aioredis.Redis.from_url(url)
    key = f"rawbench{uuid.uuid4().hex[:8]}"
    bodies = [msgspec.json.encode(payload(i)) for i in range(count)]
    try:
        began = time.perf_counter()
        for start in range(0, count, 100):
            async with client.pipeline(transaction=False) as pipe:
                for body in bodies[start : start + 100]:
                    pipe.xadd(key, {b"__data__": body})
                await pipe.execute()
        return count / (time.perf_counter() - began)
    finally:
        await client.delete(key)
        await client.aclose()


async def _raw_publish(setup: Setup) -> Result:
    count = setup.sizes.stream_events
    if setup.kind == "redis":
        return {"events_per_s": await _raw_redis_publish(setup.url, count), "events": count}
    # The relay's headers, for the extra figure: what nats-py itself costs with them.
    sample = fs.RecordedEvent(
        id=uuid.uuid4(),
        type=EVENT_TYPE,
        data=payload(0),
        metadata={},
        stream_id="order-1",
        version=1,
        position=1,
        timestamp=dt.datetime.now(dt.UTC),
        correlation_id=None,
        causation_id=None,
        schema_version=1,
    )
    plain = await _raw_nats_publish(setup.url, count, {})
    relayed = await _raw_nats_publish(setup.url, count, dict(event_headers(sample, "bench")))
    return {
        "events_per_s": plain,
        "with_relay_headers_events_per_s": relayed,
        "events": count,
    }


# -- (sg) consumer group throughput -------------------------------------------------------------


async def _group_throughput(setup: Setup) -> Result:
    from factstream.streaming import ConsumerGroup, GroupSettings

    assert setup.store is not None
    count = setup.sizes.stream_events
    await fill(setup.store, count)
    await setup.relay_all(count)
    handled = 0
    first = 0.0
    done = asyncio.Event()

    async def handler(event: fs.RecordedEvent) -> None:
        nonlocal handled, first
        handled += 1
        if handled == 1:
            first = time.perf_counter()
        if handled >= count:
            done.set()

    group = ConsumerGroup(
        GROUP,
        setup.broker,
        setup.store,
        setup.state,
        handler,
        GroupSettings(max_in_flight=256, fetch_timeout=0.5, lease_ttl=3.0),
    )
    began = time.perf_counter()
    task = asyncio.create_task(group.run())
    try:
        await asyncio.wait_for(done.wait(), timeout=600)
        ended = time.perf_counter()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # Steady state from the first event handled (the leases and the partition readers' setup
    # left out, as the raw side leaves out its consumer's creation), and from run().
    return {
        "events_per_s": (count - 1) / (ended - first),
        "from_start_events_per_s": count / (ended - began),
        "events": count,
        "process_rss_peak_kb": status_kb("VmHWM"),
    }


async def _raw_nats_consume(setup: Setup, count: int) -> float:
    import nats

    client = await nats.connect(setup.url)
    js = client.jetstream()
    stream = setup.broker.stream
    subscription = await js.pull_subscribe(f"{setup.prefix}.>", durable="raw", stream=stream)
    got = 0
    try:
        began = time.perf_counter()
        while got < count:
            for msg in await subscription.fetch(256, timeout=5):
                await msg.ack()
                got += 1
        # The last ack waits for the server, as the group's acks do.
        await client.flush()
        return count / (time.perf_counter() - began)
    finally:
        await client.close()


async def _raw_redis_consume(setup: Setup, count: int) -> float:
    """``XREADGROUP`` COUNT 100 on every partition key in one call, one ``XACK`` per key."""
    import redis.asyncio as aioredis

    client: Any = aioredis.Redis.from_url(setup.url)
    keys = [setup.broker.key(p) for p in range(setup.sizes.stream_partitions)]
    for key in keys:
        await client.xgroup_create(key, "raw", id="0", mkstream=True)
    got = 0
    try:
        began = time.perf_counter()
        while got < count:
            reply = await client.xreadgroup("raw", "c1", dict.fromkeys(keys, ">"), count=100)
            for key, entries in reply or []:
                if entries:
                    await client.xack(key, "raw", *[entry_id for entry_id, _ in entries])
                    got += len(entries)
        return count / (time.perf_counter() - began)
    finally:
        await client.aclose()


async def _raw_redis_consume_per_key(setup: Setup, count: int) -> float:
    """The measured-limits document's reference (``XREADGROUP`` COUNT 100 + pipelined
    ``XACK``): one key per ``XREADGROUP`` call, the keys in turn, and each entry's ``XACK``
    sent in one pipeline per read."""
    import redis.asyncio as aioredis

    client: Any = aioredis.Redis.from_url(setup.url)
    keys = [setup.broker.key(p) for p in range(setup.sizes.stream_partitions)]
    for key in keys:
        await client.xgroup_create(key, "raw-per-key", id="0", mkstream=True)
    got = 0
    try:
        began = time.perf_counter()
        while got < count:
            for key in keys:
                reply = await client.xreadgroup("raw-per-key", "c1", {key: ">"}, count=100)
                entries = reply[0][1] if reply else []
                if entries:
                    async with client.pipeline(transaction=False) as pipe:
                        for entry_id, _ in entries:
                            pipe.xack(key, "raw-per-key", entry_id)
                        await pipe.execute()
                    got += len(entries)
        return count / (time.perf_counter() - began)
    finally:
        await client.aclose()


async def _raw_consume(setup: Setup) -> Result:
    assert setup.store is not None
    count = setup.sizes.stream_events
    await fill(setup.store, count)
    await setup.relay_all(count)
    if setup.kind == "nats":
        return {"events_per_s": await _raw_nats_consume(setup, count), "events": count}
    return {
        "events_per_s": await _raw_redis_consume(setup, count),
        "per_key_events_per_s": await _raw_redis_consume_per_key(setup, count),
        "events": count,
    }


# -- members in child processes ---------------------------------------------------------------


class Member:
    """A consumer group member in a child process (``benchmarks.stream_member``)."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.proc: asyncio.subprocess.Process | None = None
        self.last: dict[str, Any] = {}

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.stream_member",
            json.dumps(self.job),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )

    async def line(self, timeout: float = 120) -> dict[str, Any]:
        assert self.proc is not None
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            raise RuntimeError(f"member exited early (code {await self.proc.wait()})")
        report: dict[str, Any] = json.loads(raw)
        self.last = report
        return report

    async def say(self, word: str) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(word.encode() + b"\n")
        await self.proc.stdin.drain()

    async def finish(self) -> dict[str, Any]:
        """Tell it to stop; its last report (the final one)."""
        assert self.proc is not None
        try:
            await self.say("stop")
            while True:
                report = await self.line(60)
                if report.get("final"):
                    return report
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
            await self.proc.wait()


# -- (sl) latency ---------------------------------------------------------------------------------


async def _latency(setup: Setup) -> Result:
    from .latency import paced_appends

    assert setup.store is not None
    sizes = setup.sizes
    count = int(sizes.stream_rate * sizes.stream_latency_seconds)
    member = Member(setup.member_job("latency", count=count))
    await member.start()
    await member.line()  # ready: its group has taken the partitions
    relay = setup.relay()
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.5)  # the relay is active and caught up (nothing to relay)
        rate = await paced_appends(setup.store, "ticker-1", sizes.stream_rate, count)
        report = await member.line(120)  # it reports once it handled ``count``
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await member.finish()
    return {**latency_summary(report["latencies_ns"], rate), "events_per_s": rate}


# -- (sm) memory under a slow consumer -------------------------------------------------------------


async def _slow_consumer(setup: Setup) -> Result:
    assert setup.store is not None
    count = setup.sizes.stream_slow_events
    await fill(setup.store, count)
    member = Member(setup.member_job("slow", count=count))
    await member.start()
    first = await member.line()
    relay = setup.relay()
    began = time.perf_counter()
    task = asyncio.create_task(relay.run())
    try:
        await relay.wait_for(count, timeout=600)
        relayed = time.perf_counter() - began
        while not member.last.get("done"):
            await member.line(600)
        handled = time.perf_counter() - began
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    final = await member.finish()
    return {
        "events": count,
        "relay_seconds": relayed,
        "consumer_seconds": handled,
        "events_per_s": count / handled,
        "relay_rss_peak_kb": status_kb("VmHWM"),
        "consumer_rss_before_kb": first["rss_kb"],
        "consumer_rss_peak_kb": final["rss_peak_kb"],
        "consumer_rss_after_kb": final["rss_kb"],
    }


# -- (ss) scaling over member processes ---------------------------------------------------------


async def _scaling(setup: Setup) -> Result:
    assert setup.store is not None
    count = setup.sizes.stream_events
    await fill(setup.store, count)
    await setup.relay_all(count)
    result: Result = {"events": count}
    for n, members_count in enumerate(setup.sizes.stream_members):
        group = f"{GROUP}{n}"
        members = [
            Member(setup.member_job("count", group=group, settle=1.5)) for _ in range(members_count)
        ]
        for member in members:
            await member.start()
        for member in members:
            await member.line()  # ready (its group member is running, handlers hold)
        await asyncio.sleep(2.5)  # lease_ttl 1.5 s: a look every 0.5 s spreads the partitions
        began = time.perf_counter()
        for member in members:
            await member.say("go")
        total = 0
        while total < count:
            reports = await asyncio.gather(*(member.line(600) for member in members))
            total = sum(int(r["handled"]) for r in reports)
        seconds = time.perf_counter() - began
        finals = [await member.finish() for member in members]
        result[f"members{members_count}_events_per_s"] = count / seconds
        result[f"members{members_count}_partitions"] = [len(f["partitions"]) for f in finals]
    first = setup.sizes.stream_members[0]
    result["events_per_s"] = result[f"members{first}_events_per_s"]
    return result


# -- dispatch -------------------------------------------------------------------------------------

_FACTSTREAM = {
    "sr": _relay_throughput,
    "sg": _group_throughput,
    "sl": _latency,
    "sm": _slow_consumer,
    "ss": _scaling,
}
_RAW = {"sr": _raw_publish, "sg": _raw_consume}


def sides_for(scenario: str) -> list[str]:
    return ["factstream", "raw"] if scenario in _RAW else ["factstream"]


def measure(variant: str, side: str, target: Target, sizes: Sizes, urls: dict[str, str]) -> Result:
    """``variant``: ``<scenario>-<broker>``, e.g. ``sr-nats``."""
    scenario, _, kind = variant.partition("-")
    if kind not in BROKERS:
        raise ValueError(f"unknown broker {kind!r} in {variant!r}")
    work = (_RAW if side == "raw" else _FACTSTREAM)[scenario]

    async def run() -> Result:
        async with Setup(target, sizes, kind, urls) as setup:
            return await work(setup)

    return asyncio.run(run())
