"""(pc) eventsourcing 9.5's side of the catch-up scenario, PostgreSQL only.

Its comparable machinery is ``eventsourcing.projection.ProjectionRunner``: it subscribes to
an application's notification log (``PostgresSubscription``, pages plus LISTEN/NOTIFY) and
calls the projection's ``process_event(event, tracking)`` for each event in a thread; the
view is a ``TrackingRecorder`` whose method writes the row and the tracking record (its
checkpoint) in one transaction, per event, which is how its documentation builds
materialised views. On SQLite there is nothing to compare: its SQLite recorder raises
``NotImplementedError`` for ``subscribe``.

The log is written by its ``Application`` (aggregates of 1,000 events, the same payload);
the view inserts one row per event into an indexed table, as factstream's side does. At one
commit per event it runs at a few hundred events per second, so it is timed on the first
``projection_es_events`` events of the log only (events/s are comparable, totals are not).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg.sql import SQL, Identifier

from .es_side import Order, Orders, write_log
from .latency import summarize
from .payload import payload
from .sizes import Sizes
from .targets import Target, pg_execute

Result = dict[str, Any]
#: (pl) lags in ns, appended by the view in the runner's thread (one measurement per process).
LAGS: list[int] = []


class ItemsView(PostgresTrackingRecorder):
    """One row per event (its notification id as the key), indexed by order, with the
    tracking."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema = Identifier(datastore.schema)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.bench_items (position bigint PRIMARY KEY, "
                "order_id text NOT NULL, sku text NOT NULL, quantity integer NOT NULL, "
                "seq bigint NOT NULL)"
            ).format(schema)
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE INDEX IF NOT EXISTS bench_items_order "
                "ON {0}.bench_items (order_id, position)"
            ).format(schema)
        )
        self._insert_item = SQL("INSERT INTO {0}.bench_items VALUES (%s, %s, %s, %s, %s)").format(
            schema
        )
        self._count = SQL("SELECT count(*) FROM {0}.bench_items").format(schema)

    def add_item(self, row: tuple[Any, ...], tracking: Tracking, stamp: int | None) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._insert_item, row)
            self._insert_tracking(curs, tracking)
        if stamp is not None:  # (pl): committed, so the event is in the read model now
            LAGS.append(time.perf_counter_ns() - stamp)

    def count(self) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._count)
            row = curs.fetchone()
        return int(row["count"]) if row else 0


class Items(Projection[ItemsView]):
    name = "benchitems"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        data = domain_event.data
        row = (
            tracking.notification_id,
            str(domain_event.originator_id),
            data["sku"],
            data["quantity"],
            data["seq"],
        )
        self.view.add_item(row, tracking, data.get("t"))


def write(target: Target, events: int) -> Result:
    app = Orders(env=target.eventsourcing_env())
    try:
        start = time.perf_counter()
        write_log(app, events, 1_000)
        elapsed = time.perf_counter() - start
    finally:
        app.close()
    return {"events_per_s": events / elapsed, "seconds": elapsed}


def lag(target: Target, sizes: Sizes) -> Result:
    """(pl): its runner follows the log while the application saves one event at a time,
    paced at ``latency_rate`` per second; lag as on factstream's side (``t`` stamped into the
    event just before ``save``, read when the view's transaction has committed)."""
    env = target.eventsourcing_env()
    count = int(sizes.latency_rate * sizes.latency_seconds)
    with ProjectionRunner(
        application_class=Orders, projection_class=Items, view_class=ItemsView, env=env
    ) as runner:
        app = runner.app
        order = Order(payload(0))
        app.save(order)
        time.sleep(0.2)  # let the subscription reach the live phase
        start = time.perf_counter()
        for i in range(count):
            delay = start + i / sizes.latency_rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            data = payload(i)
            data["t"] = time.perf_counter_ns()
            order.add_item(data)
            recordings = app.save(order)
        rate = count / (time.perf_counter() - start)
        runner.wait(recordings[-1].notification.id, timeout=60)
    return summarize(LAGS, rate)


def measure(target: Target, sizes: Sizes) -> Result:
    """Catch up on the first ``projection_es_events`` events of the prepared log into a view
    in a fresh schema of its own (named through the projection's prefixed setting
    ``BENCHITEMS_POSTGRES_SCHEMA``), dropped afterwards."""
    env = target.eventsourcing_env()
    app = Orders(env=env)
    try:
        last = min(app.recorder.max_notification_id() or 0, sizes.projection_es_events)
    finally:
        app.close()
    schema = f"{target.schema}_rm{uuid.uuid4().hex[:8]}"[:63]
    pg_execute(target.pg_url, f'CREATE SCHEMA "{schema}"')
    try:
        start = time.perf_counter()
        with ProjectionRunner(
            application_class=Orders,
            projection_class=Items,
            view_class=ItemsView,
            env={**env, f"{Items.name.upper()}_POSTGRES_SCHEMA": schema},
        ) as runner:
            runner.wait(last, timeout=1_800)
            elapsed = time.perf_counter() - start
            rows = runner.view.count()  # at least ``last``: the runner goes on until stopped
    finally:
        pg_execute(target.pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return {"events_per_s": last / elapsed, "events": last, "rows": rows}
