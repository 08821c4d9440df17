"""eventsourcing 9.5's side of scenarios (a), (b), (d) and (e), through its Application API.

Each event is an aggregate method call (``Order.add_item(data)``) that creates a domain event
object carrying the same ``data`` dict factstream appends; ``app.save(order)`` maps the pending
events to stored events (JSON transcoder) and inserts them in one transaction. Reading uses the
notification log (``app.notification_log.select``, pages of 1,000) and the application's mapper
(``app.mapper.to_domain_event``) to decode each one, then touches ``event.data``.
"""

from __future__ import annotations

import time
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from .payload import payload
from .sizes import Sizes
from .targets import Target
from .timing import latency_summary

Result = dict[str, Any]


class Order(Aggregate):
    @event("Created")
    def __init__(self, data: dict[str, Any]) -> None:
        self.last = data

    @event("ItemAdded")
    def add_item(self, data: dict[str, Any]) -> None:
        self.last = data


class Orders(Application[Any]):
    log_section_size = 1_000


def _warm_up(app: Orders, sizes: Sizes) -> None:
    order = Order(payload(0))
    app.save(order)
    for i in range(1, sizes.warmup):
        order.add_item(payload(i))
        app.save(order)


def single_appends(app: Orders, sizes: Sizes) -> Result:
    """(a) One event per save, one aggregate, sequential."""
    _warm_up(app, sizes)
    order = Order(payload(0))
    app.save(order)
    n = sizes.single_appends
    stamps = [time.perf_counter()]
    for i in range(n):
        order.add_item(payload(i))
        app.save(order)
        stamps.append(time.perf_counter())
    return {"events_per_s": n / (stamps[-1] - stamps[0]), "events": n, **latency_summary(stamps)}


def batch_appends(app: Orders, sizes: Sizes) -> Result:
    """(b) ``batch_size`` events per save, one aggregate, sequential."""
    _warm_up(app, sizes)
    order = Order(payload(0))
    app.save(order)
    size = sizes.batch_size
    saves = sizes.batch_events // size
    start = time.perf_counter()
    for i in range(saves):
        for j in range(size):
            order.add_item(payload(i * size + j))
        app.save(order)
    return {"events_per_s": saves * size / (time.perf_counter() - start), "events": saves * size}


def new_aggregates(app: Orders, sizes: Sizes) -> Result:
    """(d) New aggregates saved one at a time (one event each): eventsourcing's API is
    synchronous, so this is what a single-threaded application does."""
    _warm_up(app, sizes)
    n = sizes.new_streams
    start = time.perf_counter()
    for i in range(n):
        app.save(Order(payload(i)))
    return {"events_per_s": n / (time.perf_counter() - start), "events": n}


def write_log(app: Orders, events: int, batch: int) -> None:
    """``events`` events, ``batch`` per save, each save a new aggregate."""
    for i in range(events // batch):
        order = Order(payload(i * batch))
        for j in range(1, batch):
            order.add_item(payload(i * batch + j))
        app.save(order)


def read_all(app: Orders, sizes: Sizes) -> Result:
    """(e) The whole notification log, each notification decoded to a domain event."""
    page = sizes.read_page
    to_event = app.mapper.to_domain_event
    count = 0
    total = 0
    start = time.perf_counter()
    position = 1
    while True:
        notifications = app.notification_log.select(position, page)
        for notification in notifications:
            total += to_event(notification).data["seq"]  # type: ignore[attr-defined]
            count += 1
        if len(notifications) < page:
            break
        position = notifications[-1].id + 1
    elapsed = time.perf_counter() - start
    return {"events_per_s": count / elapsed, "events": count, "checksum": total}


_SCENARIOS = {"a": single_appends, "b": batch_appends, "d": new_aggregates, "e": read_all}


def _open(target: Target) -> Orders:
    return Orders(env=target.eventsourcing_env())


def measure(scenario: str, target: Target, sizes: Sizes, prepared: bool = False) -> Result:
    app = _open(target)
    try:
        if scenario == "e" and not prepared:
            write_log(app, sizes.read_events, sizes.read_batch)
        return _SCENARIOS[scenario](app, sizes)
    finally:
        app.close()


def prepare(target: Target, sizes: Sizes) -> Result:
    app = _open(target)
    try:
        start = time.perf_counter()
        write_log(app, sizes.read_events, sizes.read_batch)
        return {"events_per_s": sizes.read_events / (time.perf_counter() - start)}
    finally:
        app.close()


def probe(target: Target) -> Result:
    _open(target).close()
    return {}
