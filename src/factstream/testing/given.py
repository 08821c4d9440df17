"""Given / when / then for aggregates and command handlers.

Aggregates (no I/O)::

    created = OrderCreated("o1", "ada")
    given(Order, created).when(lambda order: order.pay(10)).then(OrderPaid("o1", 10))
    given(Order).when(lambda _: Order.create(CreateOrder("o1", "ada"))).then(created)
    given(Order, created, OrderPaid("o1", 10)).when(lambda o: o.pay(10)).then_raises(AlreadyPaid)

Command handlers (through a bus and a store)::

    outcome = await CommandScenario(bus, store, registry).given(
        "order-o1", OrderCreated("o1", "ada")
    ).when(PayOrder("o1", 10))
    outcome.then(OrderPaid("o1", 10))
"""

from __future__ import annotations

import pprint
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from ..domain import Aggregate, CommandBus
from ..domain.snapshots import SNAPSHOT_EVENT_TYPE
from ..events import ANY, RecordedEvent
from ..schema import EventRegistry
from ..store import EventStore

__all__ = ["AggregateOutcome", "AggregateScenario", "CommandScenario", "HandlerOutcome", "given"]

A = TypeVar("A", bound=Aggregate)
X = TypeVar("X", bound=BaseException)


def _same_events(expected: Sequence[object], actual: Sequence[object], what: str) -> None:
    if list(expected) != list(actual):
        raise AssertionError(
            f"{what} differ.\nexpected:\n{pprint.pformat(list(expected))}\n"
            f"actual:\n{pprint.pformat(list(actual))}"
        )


def _raised(error: BaseException | None, error_type: type[X], match: str | None) -> X:
    if error is None:
        raise AssertionError(f"expected {error_type.__name__}, but nothing was raised")
    if not isinstance(error, error_type):
        raise AssertionError(
            f"expected {error_type.__name__}, but {type(error).__name__} was raised: {error}"
        ) from error
    if match is not None:
        import re

        if not re.search(match, str(error)):
            raise AssertionError(f"{error!r} does not match {match!r}") from error
    return error


def _no_error(error: BaseException | None) -> None:
    if error is not None:
        raise AssertionError(
            f"expected events, but {type(error).__name__} was raised: {error}"
        ) from error


def given(aggregate_type: type[A], *events: object, id: str = "test") -> AggregateScenario[A]:
    """An aggregate of ``aggregate_type`` with ``events`` in its history (none: it is new)."""
    return AggregateScenario(aggregate_type, events, id)


class AggregateScenario(Generic[A]):
    """The history of one aggregate; :meth:`when` acts on it."""

    def __init__(self, aggregate_type: type[A], history: Sequence[object], id: str) -> None:
        self.aggregate_type = aggregate_type
        self.history = tuple(history)
        self.id = id

    def when(self, action: Callable[[A], object]) -> AggregateOutcome[A]:
        """Run ``action`` on the aggregate rebuilt from the history.

        If ``action`` returns an aggregate (a factory such as ``Order.create``), that aggregate
        is the one whose events :meth:`AggregateOutcome.then` checks.
        """
        aggregate = self.aggregate_type(self.id)
        aggregate._replay(self.history)
        try:
            result = action(aggregate)
        except Exception as exc:
            return AggregateOutcome(aggregate, exc)
        if isinstance(result, Aggregate):
            return AggregateOutcome(result, None)  # type: ignore[arg-type]  # a factory's result
        return AggregateOutcome(aggregate, None)


class AggregateOutcome(Generic[A]):
    """What an action did: the events it recorded, or the error it raised."""

    def __init__(self, aggregate: A, error: Exception | None) -> None:
        self.aggregate = aggregate
        self.error = error

    def then(self, *events: object) -> A:
        """Assert the action recorded exactly ``events`` (none: it recorded nothing).

        Returns:
            The aggregate, to check its state further.
        """
        _no_error(self.error)
        _same_events(events, self.aggregate.uncommitted_events, "recorded events")
        return self.aggregate

    def then_nothing(self) -> A:
        """Assert the action neither failed nor recorded anything."""
        return self.then()

    def then_raises(self, error_type: type[X], match: str | None = None) -> X:
        """Assert the action raised ``error_type`` (with a message matching ``match``)."""
        return _raised(self.error, error_type, match)


class CommandScenario:
    """A command handler test: events already in the store, then one dispatched command."""

    def __init__(self, bus: CommandBus, store: EventStore, registry: EventRegistry) -> None:
        self.bus = bus
        self.store = store
        self.registry = registry
        self._history: list[tuple[str, tuple[object, ...]]] = []

    def given(self, stream_id: str, *events: object) -> CommandScenario:
        """Add ``events`` to ``stream_id`` before the command runs (chainable)."""
        self._history.append((stream_id, events))
        return self

    async def when(self, command: object, **dispatch: Any) -> HandlerOutcome:
        """Store the history, dispatch ``command`` (``dispatch`` goes to
        :meth:`CommandBus.dispatch`) and collect the events it appended."""
        for stream_id, events in self._history:
            if events:
                await self.store.append(
                    stream_id, [self.registry.to_new_event(e) for e in events], ANY
                )
        head = await self.store.head_position()
        result: Any = None
        error: Exception | None = None
        try:
            result = await self.bus.dispatch(command, **dispatch)
        except Exception as exc:
            error = exc
        recorded = [
            event
            async for event in self.store.read_all(from_position=head + 1)
            if event.type != SNAPSHOT_EVENT_TYPE
        ]
        return HandlerOutcome(self.registry, recorded, result, error)


class HandlerOutcome:
    """What a dispatched command did.

    Attributes:
        recorded: the events it appended, as stored, in log order (snapshots left out).
        result: what the handler returned (``None`` when it raised).
        error: what it raised, if anything.
    """

    def __init__(
        self,
        registry: EventRegistry,
        recorded: list[RecordedEvent],
        result: Any,
        error: Exception | None,
    ) -> None:
        self.registry = registry
        self.recorded = recorded
        self.result = result
        self.error = error

    @property
    def events(self) -> list[object]:
        """The appended events, decoded."""
        return [self.registry.decode(event) for event in self.recorded]

    def then(self, *events: object) -> HandlerOutcome:
        """Assert the command appended exactly ``events``, in log order."""
        _no_error(self.error)
        _same_events(events, self.events, "appended events")
        return self

    def then_in(self, stream_id: str, *events: object) -> HandlerOutcome:
        """Assert the command appended exactly ``events`` to ``stream_id``."""
        _no_error(self.error)
        mine = [self.registry.decode(e) for e in self.recorded if e.stream_id == stream_id]
        _same_events(events, mine, f"events appended to {stream_id!r}")
        return self

    def then_raises(self, error_type: type[X], match: str | None = None) -> X:
        """Assert the command raised ``error_type`` and appended nothing."""
        error = _raised(self.error, error_type, match)
        _same_events([], self.events, "appended events")
        return error
