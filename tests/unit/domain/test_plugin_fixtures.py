from __future__ import annotations

from factstream import CommandBus, EventRegistry, MemoryEventStore, NewEvent, QueryBus


async def test_the_memory_store_fixture_is_a_fresh_empty_store(
    memory_store: MemoryEventStore,
) -> None:
    assert await memory_store.head_position() == 0
    await memory_store.append("s", [NewEvent("T", {})])
    assert await memory_store.stream_version("s") == 1


def test_the_registry_and_bus_fixtures_start_empty(
    event_registry: EventRegistry, command_bus: CommandBus, query_bus: QueryBus
) -> None:
    assert len(event_registry) == 0
    assert isinstance(command_bus, CommandBus)
    assert isinstance(query_bus, QueryBus)
