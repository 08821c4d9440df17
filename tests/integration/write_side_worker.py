"""Run by the integration tests in a separate process: dispatch one AddItem command.

Usage: python -m tests.integration.write_side_worker DB_PATH ORDER_ID COMMAND_ID SKU
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from factstream import CommandBus, Repository, connect, updates
from tests.unit.domain.orders import AddItem, Order, order_registry


async def main(path: str, order_id: str, command_id: str, sku: str) -> None:
    async with connect(f"sqlite:///{path}") as store:
        orders = Repository(store, order_registry(), Order)
        bus = CommandBus(max_attempts=10)
        bus.register(
            AddItem,
            updates(orders, lambda c: c.order_id, lambda o, c: o.add_item(c.sku, 1, c.price)),
        )
        await bus.dispatch(AddItem(order_id, sku), command_id=uuid.UUID(command_id))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
