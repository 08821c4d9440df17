"""The orders domain's errors: bad input, and broken business rules."""

from __future__ import annotations

import factstream as fs

__all__ = [
    "AlreadyCancelled",
    "AlreadyShipped",
    "CannotCancelShipped",
    "CannotShip",
    "EmptyOrder",
    "InvalidInput",
    "ItemNotInOrder",
    "OrderAlreadyExists",
    "OrderError",
    "OrderNotOpen",
    "PriceMismatch",
    "RuleBroken",
    "TooManyLines",
]


class OrderError(fs.DomainError):
    """Base class of every error the orders domain raises on purpose."""


class InvalidInput(OrderError, ValueError):
    """A command's value is malformed or out of range (a quantity of 0, a price of -1)."""


class RuleBroken(OrderError):
    """The command is well formed, but the order's state forbids it."""


class OrderAlreadyExists(RuleBroken):
    """An order with this id exists already."""


class OrderNotOpen(RuleBroken):
    """Items can be changed, and an order confirmed, only while it is open."""


class EmptyOrder(RuleBroken):
    """An order without items cannot be confirmed."""


class ItemNotInOrder(RuleBroken):
    """The SKU to remove is not in the order."""


class PriceMismatch(RuleBroken):
    """The SKU is in the order already at another unit price."""


class TooManyLines(RuleBroken):
    """An order holds at most ``MAX_LINES`` different SKUs, and ``MAX_QUANTITY`` of each."""


class CannotShip(RuleBroken):
    """Only a confirmed order can be shipped (never a cancelled or an open one)."""


class AlreadyShipped(RuleBroken):
    """The order has been shipped already."""


class AlreadyCancelled(RuleBroken):
    """The order has been cancelled already."""


class CannotCancelShipped(RuleBroken):
    """A shipped order cannot be cancelled."""
