"""Ready-made command handlers for the common shapes: create an aggregate, or load one, call a
command method and save."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..events import AppendResult
from .aggregate import Aggregate
from .commands import CommandContext, CommandHandler
from .repository import Repository

__all__ = ["creates", "updates"]

A = TypeVar("A", bound=Aggregate)
C = TypeVar("C")


def creates(
    repository: Repository[A], factory: Callable[[C], A]
) -> CommandHandler[C, AppendResult | None]:
    """A handler that makes a new aggregate with ``factory(command)`` and saves it.

    Example: ``bus.register(CreateOrder, creates(orders, Order.create))``.
    """

    async def handle(command: C, context: CommandContext) -> AppendResult | None:
        return await context.save(repository, factory(command))

    return handle


def updates(
    repository: Repository[A],
    aggregate_id: Callable[[C], str],
    action: Callable[[A, C], object],
) -> CommandHandler[C, AppendResult | None]:
    """A handler that loads an aggregate, calls ``action(aggregate, command)`` and saves it.

    On a concurrency conflict the bus runs it again: reload, decide again, save.

    Example: ``bus.register(PayOrder, updates(orders, lambda c: c.order_id, Order.pay_with))``.
    """

    async def handle(command: C, context: CommandContext) -> AppendResult | None:
        aggregate = await repository.load(aggregate_id(command))
        action(aggregate, command)
        return await context.save(repository, aggregate)

    return handle
