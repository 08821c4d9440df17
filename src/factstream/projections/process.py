"""Process managers (sagas): workflows that react to events by dispatching commands.

A process manager is a projection whose handlers, instead of writing rows, look at their
workflow's state and send commands. It runs in a :class:`ProjectionRunner` like any
projection, so its state commits with its checkpoint in one transaction, a failing event is
retried and parked, and it can run partitioned.

Idempotency comes from the command ids: the n-th command of a type sent while handling event
``e`` gets the id ``uuid5(e.id, "command:<Type>")`` (the id :meth:`CommandBus.dispatch`
derives for ``caused_by=e``; ``"command:<Type>:<n>"`` for the second and later ones), and the
:class:`CommandBus` derives the ids of the events a command stores from its command id. An
event handled twice (a batch rolled back, a runner killed before its checkpoint committed)
sends the same commands with the same ids, and the store keeps nothing twice. The commands
carry ``caused_by=e``: their causation id is the event's id and the correlation id goes on.
"""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from ..events import RecordedEvent
from .projection import Projection
from .readmodels.sql import SqlTransaction

__all__ = [
    "Dispatcher",
    "ProcessContext",
    "ProcessManager",
    "RecordingDispatcher",
    "SentCommand",
    "command_id_for",
]


class Dispatcher(Protocol):
    """Sends a command: :meth:`CommandBus.dispatch` or anything called the same way."""

    def __call__(
        self, command: Any, /, *, command_id: uuid.UUID, caused_by: RecordedEvent
    ) -> Awaitable[Any]: ...


def command_id_for(event: RecordedEvent, command: object, n: int = 0) -> uuid.UUID:
    """The id of the ``n``-th command of ``command``'s type sent because of ``event``."""
    suffix = f"command:{type(command).__name__}" + (f":{n}" if n else "")
    return uuid.uuid5(event.id, suffix)


@dataclass
class ProcessContext:
    """What a process manager's handler works with for one event.

    Attributes:
        event: the event being handled.
        key: the workflow instance this event belongs to (:meth:`ProcessManager.key`).
        state: the instance's state (a JSON object); change it in place, it commits with the
            checkpoint. Empty for a new instance.
        tx: the read model's transaction (for extra tables of the process manager).
    """

    event: RecordedEvent
    key: str
    state: dict[str, Any]
    tx: SqlTransaction
    _dispatch: Dispatcher
    _sent: dict[str, int] = field(default_factory=dict)
    _finished: bool = False

    async def send(self, command: object) -> Any:
        """Dispatch ``command`` as caused by the event (deterministic command id, causation
        id = the event's id, correlation id carried on). Returns the dispatcher's result."""
        name = type(command).__name__
        n = self._sent.get(name, 0)
        self._sent[name] = n + 1
        return await self._dispatch(
            command, command_id=command_id_for(self.event, command, n), caused_by=self.event
        )

    def finish(self) -> None:
        """The workflow instance is complete: its state is deleted."""
        self._finished = True


class ProcessManager(Projection[SqlTransaction]):
    """Base class of process managers. Mark handlers with :func:`handles`; each is called as
    ``handler(event, context)`` with a :class:`ProcessContext`::

        class Fulfilment(fs.ProcessManager):
            name = "fulfilment"

            @fs.handles("OrderPlaced")
            async def placed(self, event: fs.RecordedEvent, ctx: fs.ProcessContext) -> None:
                ctx.state["items"] = event.data["items"]
                await ctx.send(ReserveStock(event.stream_id, event.data["items"]))

            @fs.handles("PaymentReceived")
            async def paid(self, event: fs.RecordedEvent, ctx: fs.ProcessContext) -> None:
                await ctx.send(ShipOrder(event.stream_id))
                ctx.finish()

        runner = fs.ProjectionRunner(store, Fulfilment(bus.dispatch), fs.SqliteTarget("pm.db"))

    The state of each workflow instance is a JSON object in the table ``{name}_state``,
    keyed by :meth:`key` (the event's correlation id by default).

    Args:
        dispatch: sends the commands (``CommandBus.dispatch``, or a
            :class:`RecordingDispatcher` in tests and replays).
    """

    tables: ClassVar[dict[str, str]] = {}
    state_table: ClassVar[str] = "state"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.state_table not in cls.tables:
            cls.tables = {
                **cls.tables,
                cls.state_table: (
                    f"CREATE TABLE {{{cls.state_table}}} (key TEXT PRIMARY KEY, "
                    "data TEXT NOT NULL, position BIGINT NOT NULL)"
                ),
            }

    def __init__(self, dispatch: Dispatcher) -> None:
        super().__init__()
        self.dispatch = dispatch

    def key(self, event: RecordedEvent) -> str:
        """The workflow instance ``event`` belongs to: its correlation id, else its stream."""
        return event.correlation_id or event.stream_id

    async def apply(self, events: Sequence[RecordedEvent], tx: SqlTransaction) -> None:
        table = self.state_table
        states: dict[str, dict[str, Any]] = {}
        changed: dict[str, int] = {}
        finished: set[str] = set()
        for event in events:
            entry = self._handlers.get(event.type)
            if entry is None:
                continue
            key = self.key(event)
            if key not in states:
                states[key] = await _load_state(tx, table, key)
            context = ProcessContext(event, key, states[key], tx, self.dispatch)
            function, _ = entry
            result = function(event, context)
            if inspect.isawaitable(result):
                await result
            if context._finished:
                finished.add(key)
                states[key] = {}
            else:
                finished.discard(key)
                changed[key] = event.position
        for key in finished:
            tx.execute(f"DELETE FROM {{{table}}} WHERE key = ?", (key,))
        tx.executemany(
            f"INSERT INTO {{{table}}} (key, data, position) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET data = excluded.data, position = excluded.position",
            [(k, json.dumps(states[k]), p) for k, p in changed.items() if k not in finished],
        )


async def _load_state(tx: SqlTransaction, table: str, key: str) -> dict[str, Any]:
    # Read before the batch's transaction begins where possible: a handler then dispatches
    # without holding the read model's write lock. The checkpoint guard at begin makes sure
    # no other runner moved on meanwhile.
    rows = await tx.read(f"SELECT data FROM {{{table}}} WHERE key = ?", (key,))
    if not rows:
        return {}
    loaded: dict[str, Any] = json.loads(rows[0][0])
    return loaded


@dataclass(frozen=True, slots=True)
class SentCommand:
    """A command a :class:`RecordingDispatcher` received."""

    command: Any
    command_id: uuid.UUID
    causation_id: str
    correlation_id: str


class RecordingDispatcher:
    """A dispatcher that records commands instead of sending them (tests, replays).

    A command id seen before is recorded once, as a command bus would store its events once.

    Args:
        then: optionally, a dispatcher to pass each new command on to.
    """

    def __init__(self, then: Dispatcher | None = None) -> None:
        self.sent: list[SentCommand] = []
        self._ids: set[uuid.UUID] = set()
        self._then = then

    async def __call__(
        self, command: Any, /, *, command_id: uuid.UUID, caused_by: RecordedEvent
    ) -> Any:
        if command_id in self._ids:
            return None
        self._ids.add(command_id)
        correlation = caused_by.correlation_id or str(caused_by.id)
        self.sent.append(SentCommand(command, command_id, str(caused_by.id), correlation))
        if self._then is not None:
            return await self._then(command, command_id=command_id, caused_by=caused_by)
        return None
