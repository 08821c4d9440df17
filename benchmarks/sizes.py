"""How much work each scenario does, for a full run and for ``--quick``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Sizes:
    #: (a) single-event appends to one stream.
    single_appends: int = 3_000
    #: (b) events appended in batches of ``batch_size`` to one stream.
    batch_events: int = 50_000
    batch_size: int = 100
    #: (d) new streams, one event each; factstream spreads them over ``tasks`` tasks.
    new_streams: int = 10_000
    tasks: int = 100
    #: (e) events in the log read back; written ``read_batch`` per append.
    read_events: int = 100_000
    read_batch: int = 100
    read_page: int = 1_000
    #: (f) background append rate (events/s) and how long to measure, per variant.
    latency_rate: int = 1_000
    latency_seconds: float = 5.0
    #: (g) events the slow subscriber starts behind; written ``catchup_batch`` per append.
    catchup_events: int = 1_000_000
    catchup_batch: int = 2_000
    #: (r) events in the aggregate replayed, and how many loads are timed.
    replay_events: int = 10_000
    replay_loads: int = 5
    #: (c), (c100) commands (load -> decide -> save), over this many existing aggregates.
    commands: int = 2_000
    command_aggregates: int = 100
    #: (pc), (pw) events a projection catches up on (written 1,000 per append), and the
    #: runner's batch size; (pl) uses the (f) rate and duration, (pm) the (g) log size.
    projection_events: int = 200_000
    projection_batch: int = 1_000
    #: (pc) how many of those eventsourcing's runner is timed on: it commits each event in a
    #: transaction of its own (a few hundred per second), so the whole log would take minutes.
    projection_es_events: int = 5_000
    #: (h) appends per writer process: awaited one by one, and spread over ``tasks`` tasks.
    process_sequential: int = 1_000
    process_concurrent: int = 3_000
    #: (sr, sg, ss) events relayed / consumed, over this many partitions; (ss) member counts.
    stream_events: int = 20_000
    stream_partitions: int = 8
    stream_members: tuple[int, ...] = (1, 2, 4)
    #: (sl) append rate (events/s) and how long to measure.
    stream_rate: int = 1_000
    stream_latency_seconds: float = 5.0
    #: (sm) events the slow consumer works through.
    stream_slow_events: int = 20_000
    #: events appended untimed before timing, on both sides.
    warmup: int = 50

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sizes:
        if "stream_members" in data:
            data = {**data, "stream_members": tuple(data["stream_members"])}
        return cls(**data)


FULL = Sizes()
QUICK = Sizes(
    single_appends=1_000,
    batch_events=20_000,
    new_streams=3_000,
    latency_seconds=2.0,
    catchup_events=200_000,
    replay_loads=2,
    commands=600,
    projection_events=50_000,
    projection_es_events=2_000,
    process_sequential=400,
    process_concurrent=1_000,
    stream_events=10_000,
    stream_latency_seconds=2.0,
    stream_slow_events=5_000,
)
