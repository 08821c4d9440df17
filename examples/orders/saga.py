"""The fulfilment process manager: order confirmed -> reserve stock -> shipped or cancelled.

It reacts to events (delivered by a consumer group, at least once, in order per stream) by
dispatching commands ``caused_by`` the event: each command's id is derived from the event's
id, so a redelivered event stores nothing new, and the events it causes carry the order's
correlation id with the event as their causation.

::

    OrderConfirmed        -> ReserveStock(order, lines)
    ReservationConfirmed  -> ShipOrder(order)
    ReservationRejected   -> CancelOrder(order, "out of stock: <sku>")
    OrderCancelled        -> ReleaseStock(order)   (gives back what a reservation held)

Its state is the ``Reservation`` aggregate of each order (stream ``reservation-<order>``).
"""

from __future__ import annotations

import logging
from collections import Counter

import factstream as fs

from .commands import CancelOrder, ReleaseStock, ReserveStock, ShipOrder
from .domain import OrderCancelled, OrderConfirmed
from .errors import RuleBroken
from .inventory import ReservationConfirmed, ReservationRejected, ReservedLine

__all__ = ["OrderFulfilment"]

_log = logging.getLogger("examples.orders.saga")


class OrderFulfilment:
    """The process manager; call it with each recorded event (a consumer group handler).

    Attributes:
        seen: events handled, by type.
        refused: commands the domain refused (a customer cancelled before the shipment: the
            shipment is refused, which is the right outcome), by command.
    """

    name = "order-fulfilment"
    event_types = frozenset(
        {"OrderConfirmed", "ReservationConfirmed", "ReservationRejected", "OrderCancelled"}
    )

    def __init__(self, bus: fs.CommandBus, registry: fs.EventRegistry) -> None:
        self.bus = bus
        self.registry = registry
        self.seen: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    async def __call__(self, event: fs.RecordedEvent) -> None:
        if event.type not in self.event_types:
            return
        data = self.registry.decode(event)
        command: object
        if isinstance(data, OrderConfirmed):
            lines = tuple(ReservedLine(line.sku, line.quantity) for line in data.lines)
            command = ReserveStock(data.order_id, lines)
        elif isinstance(data, ReservationConfirmed):
            command = ShipOrder(data.order_id)
        elif isinstance(data, ReservationRejected):
            command = CancelOrder(data.order_id, f"out of stock: {data.sku}")
        elif isinstance(data, OrderCancelled):
            command = ReleaseStock(data.order_id)
        else:  # pragma: no cover - event_types and the registry disagree
            return
        self.seen[event.type] += 1
        try:
            await self.bus.dispatch(command, caused_by=event)
        except RuleBroken as exc:
            # The order moved on meanwhile (cancelled by its customer before shipping): the
            # rules said no, and that is the outcome. Not a failure to retry.
            self.refused[type(command).__name__] += 1
            _log.info("%s for order %s refused: %s", type(command).__name__, event.stream_id, exc)
