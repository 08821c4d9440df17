"""The query bus: one handler per query type, returning results, changing nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, overload

from .errors import HandlerNotFound

__all__ = ["Query", "QueryBus", "QueryHandler"]

Q = TypeVar("Q")
R = TypeVar("R")

QueryHandler = Callable[[Q], Awaitable[R]]
"""``async def handle(query) -> result``; reads read models, never writes."""


class Query(Generic[R]):
    """Optional base class that tells type checkers what asking a query returns.

    ``class GetOrder(msgspec.Struct, Query[OrderView | None], frozen=True)`` makes
    ``await queries.ask(GetOrder("o1"))`` typed as ``OrderView | None``.
    """

    __slots__ = ()


class QueryBus:
    """Routes each query to the handler registered for its type.

    Handlers answer from read models and must not change state: a query can be retried, cached
    or sent to any replica. The bus holds no state besides the routing table.
    """

    def __init__(self) -> None:
        self._handlers: dict[type[Any], Callable[[Any], Awaitable[Any]]] = {}

    def register(self, query_type: type[Q], handler: QueryHandler[Q, Any]) -> None:
        """Route queries of ``query_type`` to ``handler``.

        Raises:
            ValueError: a handler is registered for the type already.
        """
        if query_type in self._handlers:
            raise ValueError(f"a handler for {query_type.__name__} is registered already")
        self._handlers[query_type] = handler

    def handles(self, query_type: type[Q]) -> Callable[[QueryHandler[Q, R]], QueryHandler[Q, R]]:
        """Decorator form of :meth:`register`."""

        def decorate(handler: QueryHandler[Q, R]) -> QueryHandler[Q, R]:
            self.register(query_type, handler)
            return handler

        return decorate

    @overload
    async def ask(self, query: Query[R]) -> R: ...

    @overload
    async def ask(self, query: object) -> Any: ...

    async def ask(self, query: object) -> Any:
        """The answer of the handler registered for ``query``'s type.

        Raises:
            HandlerNotFound: no handler is registered for the query's type.
        """
        handler = self._handlers.get(type(query))
        if handler is None:
            raise HandlerNotFound(f"no query handler is registered for {type(query).__name__}")
        return await handler(query)
