"""A small order domain for the write-side tests."""

from __future__ import annotations

import decimal

import msgspec

from factstream import Aggregate, AppendResult, Command, DomainError, EventRegistry, Query, applies


class OrderCreated(msgspec.Struct, frozen=True):
    order_id: str
    customer: str


class ItemAdded(msgspec.Struct, frozen=True):
    order_id: str
    sku: str
    quantity: int
    price: decimal.Decimal


class OrderPaid(msgspec.Struct, frozen=True):
    order_id: str
    amount: decimal.Decimal


class CreateOrder(msgspec.Struct, Command[AppendResult | None], frozen=True):
    order_id: str
    customer: str


class AddItem(msgspec.Struct, Command[AppendResult | None], frozen=True):
    order_id: str
    sku: str
    quantity: int = 1
    price: decimal.Decimal = decimal.Decimal("1.00")


class PayOrder(msgspec.Struct, Command[AppendResult | None], frozen=True):
    order_id: str


class GetTotal(msgspec.Struct, Query[decimal.Decimal], frozen=True):
    order_id: str


class OrderAlreadyPaid(DomainError):
    pass


class EmptyOrder(DomainError):
    pass


class Order(Aggregate, category="order"):
    customer: str
    lines: list[tuple[str, int, decimal.Decimal]]
    paid: bool

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.customer = ""
        self.lines = []
        self.paid = False
        self._applied = 0  # not state: counts applier calls, to see what a load replayed

    @classmethod
    def create(cls, command: CreateOrder) -> Order:
        order = cls(command.order_id)
        order._record(OrderCreated(command.order_id, command.customer))
        return order

    @property
    def total(self) -> decimal.Decimal:
        return sum((quantity * price for _, quantity, price in self.lines), decimal.Decimal(0))

    def add_item(self, sku: str, quantity: int, price: decimal.Decimal) -> None:
        if self.paid:
            raise OrderAlreadyPaid(self.id)
        self._record(ItemAdded(self.id, sku, quantity, price))

    def pay(self) -> None:
        if self.paid:
            raise OrderAlreadyPaid(self.id)
        if not self.lines:
            raise EmptyOrder(self.id)
        self._record(OrderPaid(self.id, self.total))

    @applies(OrderCreated)
    def _created(self, event: OrderCreated) -> None:
        self.customer = event.customer
        self._applied += 1

    @applies(ItemAdded)
    def _item_added(self, event: ItemAdded) -> None:
        self.lines.append((event.sku, event.quantity, event.price))
        self._applied += 1

    @applies(OrderPaid)
    def _paid(self, event: OrderPaid) -> None:
        self.paid = True
        self._applied += 1


def order_registry() -> EventRegistry:
    registry = EventRegistry()
    registry.register(OrderCreated, name="OrderCreated")
    registry.register(ItemAdded, name="ItemAdded")
    registry.register(OrderPaid, name="OrderPaid")
    return registry
