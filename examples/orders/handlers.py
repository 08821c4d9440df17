"""Command handlers of the orders system, and their registration on a command bus."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import factstream as fs

from .commands import (
    AddItem,
    CancelOrder,
    ConfirmOrder,
    CreateOrder,
    ReceiveStock,
    ReleaseStock,
    RemoveItem,
    ReserveStock,
    ShipOrder,
)
from .domain import Order, check_identifier, check_quantity
from .errors import InvalidInput, OrderAlreadyExists
from .inventory import Reservation, ReservedLine, Stock

__all__ = [
    "CreateOrderHandler",
    "ReleaseStockHandler",
    "Repositories",
    "ReserveStockHandler",
    "register_handlers",
]


@dataclass(frozen=True, slots=True)
class Repositories:
    """The repositories the handlers load and save through."""

    orders: fs.Repository[Order]
    stock: fs.Repository[Stock]
    reservations: fs.Repository[Reservation]

    @classmethod
    def over(
        cls, store: fs.EventStore, registry: fs.EventRegistry, *, snapshot_every: int = 50
    ) -> Repositories:
        """Repositories on ``store``; stock streams grow long, so they are snapshotted."""
        return cls(
            fs.Repository(store, registry, Order),
            fs.Repository(store, registry, Stock, snapshot_every=snapshot_every),
            fs.Repository(store, registry, Reservation),
        )


class CreateOrderHandler:
    """Opens a new order (the design article's ``CreateOrderCommandHandler``)."""

    def __init__(self, orders: fs.Repository[Order]) -> None:
        self.orders = orders

    async def __call__(
        self, command: CreateOrder, context: fs.CommandContext
    ) -> fs.AppendResult | None:
        order = Order.create(command.order_id, command.customer_id, command.currency)
        try:
            return await context.save(self.orders, order)
        except fs.WrongExpectedVersion as exc:
            if exc.expected == fs.NO_STREAM:
                raise OrderAlreadyExists(f"order {command.order_id} exists already") from exc
            raise


async def _save_tagged(
    context: fs.CommandContext, repository: fs.Repository[Stock], stock: Stock, tag: str
) -> fs.AppendResult | None:
    """Save with ids derived from the command id *and* ``tag``: a reservation and its
    compensation (a release) in the same stream by one command never share an id."""
    pending = stock.uncommitted_events
    if not pending:
        return None
    stream = repository.stream_id(stock.id)
    ids = [uuid.uuid5(context.command_id, f"{stream}:{tag}:{n}") for n in range(len(pending))]
    try:
        return await repository.save(
            stock,
            correlation_id=context.correlation_id,
            causation_id=str(context.command_id),
            metadata=context.metadata,
            event_ids=ids,
        )
    except fs.DuplicateEventId as exc:
        if exc.event_id in ids:
            return None  # this command wrote it already
        raise


class ReserveStockHandler:
    """Reserves every line of an order or none, and records the outcome.

    The stock of several SKUs lives in several streams, so this is not one transaction: when
    a save conflicts the bus runs the handler again, which sees what it reserved already
    (reservations are per order, idempotent) and, if a SKU has meanwhile run short, gives
    back what it holds before recording the rejection.
    """

    def __init__(self, repositories: Repositories) -> None:
        self.repositories = repositories

    async def __call__(
        self, command: ReserveStock, context: fs.CommandContext
    ) -> fs.AppendResult | None:
        repos = self.repositories
        check_identifier(command.order_id, "order_id")
        wanted: dict[str, int] = {}
        for line in command.lines:
            check_identifier(line.sku, "sku")
            wanted[line.sku] = wanted.get(line.sku, 0) + check_quantity(line.quantity)
        if not wanted:
            raise InvalidInput("a reservation needs at least one line")
        reservation = await repos.reservations.get(command.order_id) or Reservation(
            command.order_id
        )
        if reservation.status != "new":
            return None  # decided already
        stocks = {sku: await repos.stock.get(sku) or Stock(sku) for sku in sorted(wanted)}
        short = next(
            (
                (sku, quantity, stocks[sku].available)
                for sku, quantity in wanted.items()
                if not stocks[sku].can_reserve(command.order_id, quantity)
            ),
            None,
        )
        if short is None:
            for sku, stock in stocks.items():
                stock.reserve(command.order_id, wanted[sku])
                await _save_tagged(context, repos.stock, stock, "reserve")
            reservation.confirm(tuple(ReservedLine(sku, q) for sku, q in sorted(wanted.items())))
        else:
            for stock in stocks.values():  # a previous attempt may have reserved some
                stock.release(command.order_id)
                await _save_tagged(context, repos.stock, stock, "release")
            reservation.reject(*short)
        return await context.save(repos.reservations, reservation)


class ReleaseStockHandler:
    """Gives back the stock an order reserved (when it is cancelled after reserving)."""

    def __init__(self, repositories: Repositories) -> None:
        self.repositories = repositories

    async def __call__(
        self, command: ReleaseStock, context: fs.CommandContext
    ) -> fs.AppendResult | None:
        repos = self.repositories
        reservation = await repos.reservations.get(check_identifier(command.order_id, "order_id"))
        if reservation is None or reservation.status != "reserved":
            return None
        for line in reservation.lines:
            stock = await repos.stock.load(line.sku)
            stock.release(command.order_id)
            await _save_tagged(context, repos.stock, stock, "release")
        reservation.release()
        return await context.save(repos.reservations, reservation)


def register_handlers(bus: fs.CommandBus, repositories: Repositories) -> None:
    """Route every command of the orders system to its handler on ``bus``."""
    orders = repositories.orders

    def order_id(command: AddItem | RemoveItem | ConfirmOrder | ShipOrder | CancelOrder) -> str:
        # Checked before loading: a malformed id is bad input, not a missing order.
        return check_identifier(command.order_id, "order_id")

    bus.register(CreateOrder, CreateOrderHandler(orders))
    bus.register(
        AddItem,
        fs.updates(orders, order_id, lambda o, c: o.add_item(c.sku, c.quantity, c.unit_price)),
    )
    bus.register(RemoveItem, fs.updates(orders, order_id, lambda o, c: o.remove_item(c.sku)))
    bus.register(ConfirmOrder, fs.updates(orders, order_id, lambda o, c: o.confirm()))
    bus.register(ShipOrder, fs.updates(orders, order_id, lambda o, c: o.ship()))
    bus.register(CancelOrder, fs.updates(orders, order_id, lambda o, c: o.cancel(c.reason)))

    async def receive(command: ReceiveStock, context: fs.CommandContext) -> fs.AppendResult | None:
        sku = check_identifier(command.sku, "sku")
        stock = await repositories.stock.get(sku) or Stock(sku)
        stock.receive(command.quantity)
        return await context.save(repositories.stock, stock)

    bus.register(ReceiveStock, receive)
    bus.register(ReserveStock, ReserveStockHandler(repositories))
    bus.register(ReleaseStock, ReleaseStockHandler(repositories))
