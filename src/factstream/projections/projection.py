"""Projections: handlers per event type that turn the log into a read model."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from ..events import RecordedEvent
from ..events.correlation import HANDLING, Correlated

__all__ = ["Projection", "handles"]

TxT = TypeVar("TxT")
F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__factstream_handles__"


def handles(*event_types: str) -> Callable[[F], F]:
    """Mark a method of a :class:`Projection` as the handler of ``event_types``.

    The method is called as ``handler(event, tx)`` and may be a plain function or a coroutine
    function. ``tx`` is the read model's transaction (:class:`SqlTransaction` for SQL targets,
    :class:`RedisTransaction` for Redis).

    Raises:
        TypeError: no event type, or one that is not a non-empty string.
    """
    if not event_types or not all(isinstance(t, str) and t for t in event_types):
        raise TypeError("@handles needs one or more event type names")

    def mark(function: F) -> F:
        setattr(function, _MARK, (*getattr(function, _MARK, ()), *event_types))
        return function

    return mark


class Projection(Generic[TxT]):
    """A read model built from events. Subclass it, name it, and mark handlers with
    :func:`handles`::

        class OrdersByCustomer(fs.Projection[fs.SqlTransaction]):
            name = "orders_by_customer"
            tables = {"orders": "CREATE TABLE {orders} (id TEXT PRIMARY KEY, customer TEXT)"}
            indexes = ["CREATE INDEX {orders}_customer ON {orders} (customer)"]

            @fs.handles("OrderCreated")
            def created(self, event: fs.RecordedEvent, tx: fs.SqlTransaction) -> None:
                tx.execute("INSERT INTO {orders} VALUES (?, ?)", (event.stream_id, ...))

    Attributes:
        name: the projection's stable name (its checkpoint, tables and dead letters use it).
        version: bump it when the handlers or tables change meaning; a runner with a newer
            version rebuilds the read model in shadow tables and swaps them in.
        tables: for SQL targets, logical table name -> ``CREATE TABLE {name} (...)``. Handlers
            write ``{name}`` in their SQL; queries read the view called ``name``.
        indexes: ``CREATE INDEX`` statements, with the same ``{name}`` placeholders.
        event_types: the event types handled (from the ``@handles`` marks), or ``None`` when
            :meth:`apply` is overridden to see every event.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    tables: ClassVar[Mapping[str, str]] = {}
    indexes: ClassVar[Sequence[str]] = ()
    event_types: ClassVar[frozenset[str] | None] = frozenset()
    _handler_names: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for attribute, value in vars(klass).items():
                for event_type in getattr(value, _MARK, ()):
                    found[event_type] = attribute
        cls._handler_names = found
        overrides_apply = any("apply" in vars(k) for k in cls.__mro__ if k is not Projection)
        if "event_types" not in vars(cls):
            cls.event_types = None if overrides_apply and not found else frozenset(found)

    def __init__(self) -> None:
        if not isinstance(getattr(self, "name", None), str) or not self.name:
            raise TypeError(f"{type(self).__name__} needs a class attribute name = '...'")
        self._handlers: dict[str, tuple[Callable[..., Any], bool]] = {}
        for event_type, attribute in self._handler_names.items():
            method = getattr(self, attribute)
            self._handlers[event_type] = (method, inspect.iscoroutinefunction(method))

    def handles_event(self, event: RecordedEvent) -> bool:
        """Whether :meth:`apply` needs to see ``event``."""
        types = self.event_types
        return types is None or event.type in types

    async def apply(self, events: Sequence[RecordedEvent], tx: TxT) -> None:
        """Apply a batch of events, in order, inside one transaction.

        The default calls each event's handler. Override it to work on the whole batch at
        once (for example, sum a batch's amounts per day and write one upsert per day).
        """
        handlers = self._handlers
        handling: list[Correlated | None] = [None]  # what the handler logs carries its ids
        token = HANDLING.set(handling)
        try:
            for event in events:
                entry = handlers.get(event.type)
                if entry is None:
                    continue
                handling[0] = event
                function, is_async = entry
                if is_async:
                    await function(event, tx)
                else:
                    result = function(event, tx)
                    if inspect.isawaitable(result):
                        await result
        finally:
            HANDLING.reset(token)

    async def setup(self, tx: TxT) -> None:
        """Hook: called once, in the transaction that creates the read model (a new
        generation), after its tables exist. Seed reference data here."""


HandlerResult = Awaitable[None] | None
