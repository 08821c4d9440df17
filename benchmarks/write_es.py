"""eventsourcing 9.5's side of the write-side scenarios (r) and (c).

(r) ``app.repository.get(id)`` of one aggregate of ``replay_events`` events (no snapshots),
``replay_loads`` times. (c) ``repository.get`` -> ``order.add_item`` -> ``app.save``, round
robin over ``command_aggregates`` existing orders: the same load -> decide -> save per command.
"""

from __future__ import annotations

import time
from typing import Any

from .es_side import Order, Orders
from .payload import payload
from .sizes import Sizes
from .targets import Target

Result = dict[str, Any]


def replay(app: Orders, sizes: Sizes) -> Result:
    order = Order(payload(0))
    for first in range(1, sizes.replay_events, 100):
        for seq in range(first, min(first + 100, sizes.replay_events)):
            order.add_item(payload(seq))
        app.save(order)
    app.repository.get(order.id)  # warm
    start = time.perf_counter()
    for _ in range(sizes.replay_loads):
        loaded: Order = app.repository.get(order.id)
        assert loaded.version == sizes.replay_events
    elapsed = time.perf_counter() - start
    return {"events_per_s": sizes.replay_events * sizes.replay_loads / elapsed}


def commands(app: Orders, sizes: Sizes) -> Result:
    ids = []
    for n in range(sizes.command_aggregates):
        order = Order(payload(n))
        app.save(order)
        ids.append(order.id)
    start = time.perf_counter()
    for n in range(sizes.commands):
        order = app.repository.get(ids[n % len(ids)])
        order.add_item(payload(n))
        app.save(order)
    return {"events_per_s": sizes.commands / (time.perf_counter() - start)}


def measure(scenario: str, target: Target, sizes: Sizes) -> Result:
    app = Orders(env=target.eventsourcing_env())
    try:
        return replay(app, sizes) if scenario == "r" else commands(app, sizes)
    finally:
        app.close()
