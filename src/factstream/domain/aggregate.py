"""The aggregate base class: decide in command methods, evolve state in event appliers.

Example::

    class Order(Aggregate, category="order"):
        status: str = "new"

        @classmethod
        def create(cls, command: CreateOrder) -> Order:
            order = cls(command.order_id)
            order._record(OrderCreated(command.order_id, command.customer_id))
            return order

        def pay(self) -> None:
            if self.status == "paid":
                raise OrderAlreadyPaid(self.id)
            self._record(OrderPaid(self.id))

        @applies(OrderCreated)
        def _created(self, event: OrderCreated) -> None:
            self.status = "open"

        @applies(OrderPaid)
        def _paid(self, event: OrderPaid) -> None:
            self.status = "paid"
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar, overload

from .errors import MissingApplier
from .state import restore_annotated_state, snapshot_annotated_state

__all__ = ["Aggregate", "applies"]

A = TypeVar("A", bound="Aggregate")
E = TypeVar("E")
E2 = TypeVar("E2")
E3 = TypeVar("E3")

_MARK = "__factstream_applies__"


@overload
def applies(
    event_type: type[E], /
) -> Callable[[Callable[[A, E], None]], Callable[[A, E], None]]: ...


@overload
def applies(
    event_type: type[E], other: type[E2], /
) -> Callable[[Callable[[A, E | E2], None]], Callable[[A, E | E2], None]]: ...


@overload
def applies(
    event_type: type[E], other: type[E2], third: type[E3], /
) -> Callable[[Callable[[A, E | E2 | E3], None]], Callable[[A, E | E2 | E3], None]]: ...


def applies(
    *event_types: type[Any],
) -> Callable[[Callable[[A, Any], None]], Callable[[A, Any], None]]:
    """Mark an aggregate method as the applier of one or more event types.

    The method receives the typed event and updates the aggregate's state; it must not fail or
    decide anything (decisions belong in command methods). mypy checks that the decorated
    method accepts every listed type: ``@applies(Opened, Renamed)`` needs a parameter typed
    ``Opened | Renamed``. An applier of a base class also applies to its subclasses.
    """
    if not event_types:
        raise TypeError("@applies needs at least one event type")

    def mark(method: Callable[[A, Any], None]) -> Callable[[A, Any], None]:
        setattr(method, _MARK, (*getattr(method, _MARK, ()), *event_types))
        return method

    return mark


class Aggregate:
    """Base class of event-sourced aggregates.

    Subclasses give a stable stream category as a class keyword
    (``class Order(Aggregate, category="order")``), define appliers with :func:`applies`, and
    record events from command methods with :meth:`_record`. Their ``__init__`` must accept the
    aggregate id alone (the repository calls ``cls(id)`` before replaying).

    Class attributes:
        category: the stream category; the stream of aggregate ``id`` is ``f"{category}-{id}"``.
        snapshot_version: bump it when the state's shape changes; older snapshots are ignored.
        ignore_unhandled: when true, events without an applier only advance the version.
    """

    category: ClassVar[str] = ""
    snapshot_version: ClassVar[int] = 1
    ignore_unhandled: ClassVar[bool] = False
    _appliers: ClassVar[dict[type[Any], Callable[[Any, Any], None]]] = {}

    def __init_subclass__(cls, *, category: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if category is not None:
            cls.category = category
        appliers: dict[type[Any], Callable[[Any, Any], None]] = {}
        for klass in reversed(cls.__mro__):
            for member in vars(klass).values():
                for event_type in getattr(member, _MARK, ()):
                    appliers[event_type] = member
        cls._appliers = appliers

    def __init__(self, id: str) -> None:
        self.id = id
        self._version = 0
        self._committed_version = 0
        self._pending: list[object] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r} v{self._version}>"

    @property
    def version(self) -> int:
        """The version of the state: stored events applied plus uncommitted ones."""
        return self._version

    @property
    def committed_version(self) -> int:
        """The stream version the aggregate was loaded or last saved at (0 when new)."""
        return self._committed_version

    @property
    def uncommitted_events(self) -> tuple[object, ...]:
        """Events recorded since the aggregate was loaded or saved, oldest first."""
        return tuple(self._pending)

    def _record(self, event: object) -> None:
        """Apply ``event`` to the state and queue it for saving. Call it from command methods."""
        self._apply(event)
        self._pending.append(event)

    def _apply(self, event: object) -> None:
        applier = self._appliers.get(type(event))
        if applier is None:
            applier = self._inherited_applier(type(event))
        if applier is not None:
            applier(self, event)
        elif not self.ignore_unhandled:
            raise MissingApplier(
                f"{type(self).__name__} has no @applies({type(event).__name__}) method"
            )
        self._version += 1

    @classmethod
    def _inherited_applier(cls, event_type: type[Any]) -> Callable[[Any, Any], None] | None:
        for base in event_type.__mro__[1:]:
            if base in cls._appliers:
                applier = cls._appliers[base]
                cls._appliers[event_type] = applier  # remember, so the next lookup is direct
                return applier
        return None

    # -- used by the repository and the test kit ----------------------------------------

    def _replay(self, events: Iterable[object]) -> None:
        """Apply stored events (not queued) and mark them committed."""
        for event in events:
            self._apply(event)
        self._committed_version = self._version

    def _stored(self, event: object | None, version: int) -> None:
        """Apply one stored event found at ``version`` (``None``: a skipped unknown event)."""
        if event is not None:
            self._apply(event)
        self._version = self._committed_version = version

    def _stored_each(self, events: Sequence[object | None], versions: Sequence[int]) -> None:
        """:meth:`_stored` of each event and its version, in order: a page of a replay.

        One loop instead of two calls per event; an event whose exact class has no applier
        takes :meth:`_apply` (inherited appliers, ``ignore_unhandled``, the error).
        """
        appliers = self._appliers
        for event, version in zip(events, versions, strict=True):
            if event is not None:
                applier = appliers.get(type(event))
                if applier is None:
                    self._apply(event)
                else:
                    applier(self, event)
            self._version = self._committed_version = version

    def _committed(self, version: int) -> None:
        """The uncommitted events are now stored; the stream is at ``version``."""
        self._pending.clear()
        self._version = self._committed_version = version

    def snapshot_state(self) -> dict[str, Any]:
        """The state to snapshot, as a JSON object.

        By default: the attributes annotated on the class (``status: str``), encoded by
        msgspec. Override it together with :meth:`restore_state` for other layouts.
        """
        return snapshot_annotated_state(self)

    def restore_state(self, state: dict[str, Any]) -> None:
        """Set the state from :meth:`snapshot_state`'s output.

        Raises:
            ValueError: the state does not match (the repository then replays instead).
        """
        restore_annotated_state(self, state)
