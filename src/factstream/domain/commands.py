"""The command bus: one handler per command type, middleware, retries on concurrency
conflicts, idempotency by command id, and correlation/causation propagation."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeAlias, TypeVar, overload

from ..events import AppendResult, DuplicateEventId, RecordedEvent, WrongExpectedVersion, uuid7
from ..events.correlation import HANDLING
from ..events.ids import uuid5_of
from .aggregate import Aggregate
from .errors import HandlerNotFound
from .repository import Repository

__all__ = [
    "Command",
    "CommandBus",
    "CommandContext",
    "CommandHandler",
    "Middleware",
    "Next",
]

C = TypeVar("C")
R = TypeVar("R")
A = TypeVar("A", bound=Aggregate)


class Command(Generic[R]):
    """Optional base class that tells type checkers what dispatching a command returns.

    ``class PlaceOrder(msgspec.Struct, Command[AppendResult | None], frozen=True): ...`` makes
    ``await bus.dispatch(PlaceOrder(...))`` typed as ``AppendResult | None``.
    """

    __slots__ = ()


class CommandContext:
    """What a handler knows about the command it handles, and how it saves with it.

    Attributes:
        command_id: the command's id; events it causes derive their ids from it.
        correlation_id: the conversation's id, stored on every event the command causes
            (when none is given: the command id, as text).
        causation_id: what caused the command (an event id), if anything.
        metadata: stored with every event the command causes (user, tenant, ...).
        attempt: 1 for the first run of the handler, 2 after a first conflict, ...
    """

    __slots__ = (
        "_counters",
        "_id_bytes",
        "_id_text",
        "attempt",
        "causation_id",
        "command_id",
        "correlation_id",
        "metadata",
    )

    def __init__(
        self,
        command_id: uuid.UUID,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.command_id = command_id
        self._id_text = str(command_id)
        self._id_bytes = command_id.bytes
        self.correlation_id = correlation_id or self._id_text
        self.causation_id = causation_id
        self.metadata: dict[str, Any] = dict(metadata) if metadata else {}
        self.attempt = 0
        self._counters: dict[str, int] = {}

    def _next_attempt(self) -> None:
        self.attempt += 1
        self._counters.clear()

    def event_ids(self, stream_id: str, count: int) -> list[uuid.UUID]:
        """Deterministic ids for the next ``count`` events this command writes to a stream.

        The n-th event the handler writes to ``stream_id`` gets
        ``uuid5(command_id, f"{stream_id}:{n}")`` in every run, in every process, so the store's
        idempotent append recognises a repeated command.
        """
        start = self._counters.get(stream_id, 0)
        self._counters[stream_id] = start + count
        namespace = self._id_bytes
        return [uuid5_of(namespace, f"{stream_id}:{n}") for n in range(start, start + count)]

    async def save(self, repository: Repository[A], aggregate: A) -> AppendResult | None:
        """Save ``aggregate`` as caused by this command.

        Its events get deterministic ids, the correlation id, ``causation_id = command_id`` and
        the command's metadata.

        Returns:
            The append's result; ``None`` when there was nothing to save or when this command's
            events are stored already (a repeated command: nothing new is stored).
        """
        count = len(aggregate.uncommitted_events)
        if not count:
            return None
        ids = self.event_ids(repository.stream_id(aggregate.id), count)
        try:
            return await repository.save(
                aggregate,
                correlation_id=self.correlation_id,
                causation_id=self._id_text,
                metadata=self.metadata,
                event_ids=ids,
            )
        except DuplicateEventId as exc:
            # An id derived from this command is stored: an earlier run of the same command
            # saved to this stream (perhaps deciding differently on older state). Done already.
            if exc.event_id in ids:
                return None
            raise


CommandHandler: TypeAlias = Callable[[C, CommandContext], Awaitable[R]]
"""``async def handle(command, context) -> result``."""

Next: TypeAlias = Callable[[Any, CommandContext], Awaitable[Any]]
"""The rest of the chain, as seen by a middleware."""

Middleware: TypeAlias = Callable[[Any, CommandContext, Next], Awaitable[Any]]
"""``async def mw(command, context, call_next) -> result``; runs once per dispatch, around the
retries, in the order added (the first added is the outermost)."""


class CommandBus:
    """Routes each command to the handler registered for its type.

    Args:
        max_attempts: how many times a handler runs when its save hits
            :class:`WrongExpectedVersion` (it reloads and decides again each time).
        middleware: wrappers around every dispatch.
    """

    def __init__(self, *, max_attempts: int = 3, middleware: Sequence[Middleware] = ()) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self.max_attempts = max_attempts
        self._handlers: dict[type[Any], Callable[[Any, CommandContext], Awaitable[Any]]] = {}
        self._middleware: list[Middleware] = list(middleware)
        self._chains: dict[Callable[[Any, CommandContext], Awaitable[Any]], Next] = {}

    def register(self, command_type: type[C], handler: CommandHandler[C, Any]) -> None:
        """Route commands of ``command_type`` (exactly that class) to ``handler``.

        Raises:
            ValueError: a handler is registered for the type already.
        """
        if command_type in self._handlers:
            raise ValueError(f"a handler for {command_type.__name__} is registered already")
        self._handlers[command_type] = handler

    def handles(
        self, command_type: type[C]
    ) -> Callable[[CommandHandler[C, R]], CommandHandler[C, R]]:
        """Decorator form of :meth:`register`."""

        def decorate(handler: CommandHandler[C, R]) -> CommandHandler[C, R]:
            self.register(command_type, handler)
            return handler

        return decorate

    def use(self, middleware: Middleware) -> None:
        """Add a middleware inside the ones added before."""
        self._middleware.append(middleware)
        self._chains.clear()

    @overload
    async def dispatch(
        self,
        command: Command[R],
        *,
        command_id: uuid.UUID | None = None,
        correlation_id: str | None = None,
        caused_by: RecordedEvent | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> R: ...

    @overload
    async def dispatch(
        self,
        command: object,
        *,
        command_id: uuid.UUID | None = None,
        correlation_id: str | None = None,
        caused_by: RecordedEvent | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Any: ...

    async def dispatch(
        self,
        command: object,
        *,
        command_id: uuid.UUID | None = None,
        correlation_id: str | None = None,
        caused_by: RecordedEvent | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Any:
        """Run the handler of ``command`` and return what it returns.

        Args:
            command: the command object.
            command_id: its id; by default the command's ``command_id`` attribute if it has
                one, else derived from ``caused_by``, else a new random id. Dispatching the
                same id again stores no new events.
            correlation_id: the conversation's id; by default ``caused_by``'s correlation id,
                else the command id (the command starts a conversation).
            caused_by: the event that caused this command (in a process manager or policy): its
                correlation id is carried onward, its id becomes the causation id, and the
                default command id is derived from it so redelivery is idempotent.
            metadata: stored with every event the command causes.

        Raises:
            HandlerNotFound: no handler is registered for the command's type.
            WrongExpectedVersion: still conflicting after ``max_attempts`` runs.
        """
        handler = self._handlers.get(type(command))
        if handler is None:
            raise HandlerNotFound(f"no command handler is registered for {type(command).__name__}")
        context = self.context_for(command, command_id, correlation_id, caused_by, metadata)
        token = HANDLING.set([context])  # log records carry its ids
        try:
            if not self._middleware:
                return await self._with_retries(handler, command, context)
            chain = self._chains.get(handler)
            if chain is None:
                chain = self._chains[handler] = self._chain(handler)
            return await chain(command, context)
        finally:
            HANDLING.reset(token)

    def _chain(self, handler: Callable[[Any, CommandContext], Awaitable[Any]]) -> Next:
        """The middleware around ``handler``'s retries, built once per handler."""

        async def run(command: Any, context: CommandContext) -> Any:
            return await self._with_retries(handler, command, context)

        call: Next = run
        for middleware in reversed(self._middleware):
            call = _bind(middleware, call)
        return call

    @staticmethod
    def context_for(
        command: object,
        command_id: uuid.UUID | None = None,
        correlation_id: str | None = None,
        caused_by: RecordedEvent | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> CommandContext:
        """The context :meth:`dispatch` gives the handler (see its arguments)."""
        if command_id is None:
            own = getattr(command, "command_id", None)
            if isinstance(own, uuid.UUID):
                command_id = own
            elif caused_by is not None:
                command_id = uuid.uuid5(caused_by.id, f"command:{type(command).__name__}")
            else:
                # uuid7, not uuid4: no system call per command (os.urandom releases the GIL,
                # and getting it back under load costs more than the rest of a dispatch).
                command_id = uuid7()
        causation_id = None
        if caused_by is not None:
            causation_id = str(caused_by.id)
            if correlation_id is None:
                correlation_id = caused_by.correlation_id or str(caused_by.id)
        return CommandContext(command_id, correlation_id, causation_id, metadata)

    async def _with_retries(
        self,
        handler: Callable[[Any, CommandContext], Awaitable[Any]],
        command: Any,
        context: CommandContext,
    ) -> Any:
        while True:
            context._next_attempt()
            try:
                return await handler(command, context)
            except WrongExpectedVersion as exc:
                # A stream that had to be new will not become new by trying again.
                if context.attempt >= self.max_attempts or exc.expected == 0:
                    raise


def _bind(middleware: Middleware, call_next: Next) -> Next:
    async def call(command: Any, context: CommandContext) -> Any:
        return await middleware(command, context, call_next)

    return call
