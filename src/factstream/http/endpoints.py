"""Commands and queries as HTTP endpoints, without the application importing Litestar.

An application registers :class:`CommandEndpoint` and :class:`QueryEndpoint` objects with
``create_app(..., endpoints=[...])``. A command handler gets the decoded body (a msgspec Struct,
dataclass or TypedDict that also documents the request in OpenAPI) and the path parameters, and
returns a :class:`CommandResult` whose ``position`` becomes the ``Consistency-Token`` header.
A query handler returns the body to answer with; if its endpoint has a waiter, a
``Consistency-Token`` sent by the client is waited for first (see
:mod:`factstream.http.consistency`). Handlers raise :class:`~factstream.http.problems.Problem`
subclasses, or domain errors mapped by ``problem_types``, for error answers.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, cast

from litestar import Request, Response, route
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody

from ..events import uuid7
from ..store.base import EventStore
from .consistency import STATUS_HEADER, Freshness, await_token, token_headers
from .ports import ConsistencyWaiter

__all__ = [
    "CORRELATION_HEADER",
    "CommandCall",
    "CommandEndpoint",
    "CommandResult",
    "QueryCall",
    "QueryEndpoint",
]

B = TypeVar("B")
CORRELATION_HEADER = "X-Correlation-ID"
_MAX_CORRELATION = 128


@dataclass(frozen=True, slots=True)
class CommandCall(Generic[B]):
    """What a command handler receives.

    Attributes:
        body: the decoded request body (None for endpoints without one).
        path: the path parameters, already converted to their declared types.
        correlation_id: the request's ``X-Correlation-ID`` header, or a new id; put it on the
            events the command produces.
        request_id: a new id for this request; use it as the causation id of those events.
    """

    body: B
    path: Mapping[str, Any]
    correlation_id: str
    request_id: str


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command handler returns.

    Attributes:
        position: the global position the command's events reached (``AppendResult.position``);
            it is sent back as the ``Consistency-Token`` header.
        body: the response body (anything msgspec encodes), or None for no body.
        location: a ``Location`` header for created resources.
    """

    position: int
    body: Any = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class QueryCall:
    """What a query handler receives: path and query parameters, and the freshness the
    consistency wait achieved (``stale`` answers go out with status 202)."""

    path: Mapping[str, Any]
    query: Mapping[str, str]
    freshness: Freshness


@dataclass(frozen=True, slots=True)
class CommandEndpoint:
    """A write endpoint.

    Attributes:
        path: Litestar path syntax, e.g. ``/orders/{order_id:str}/items``.
        handler: ``async (CommandCall) -> CommandResult``.
        method: ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
        body: the request body type (msgspec Struct, dataclass, TypedDict), or None.
        response: the response body type, for the OpenAPI document.
        status_code: the status of a success (201 for creation).
        summary: a line for the OpenAPI document.
        tags: OpenAPI tags.
    """

    path: str
    handler: Callable[[CommandCall[Any]], Awaitable[CommandResult]]
    method: Literal["POST", "PUT", "PATCH", "DELETE"] = "POST"
    body: Any = None
    response: Any = None
    status_code: int = 200
    summary: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QueryEndpoint:
    """A read endpoint (GET).

    Attributes:
        path: Litestar path syntax, e.g. ``/orders/{order_id:str}``.
        handler: ``async (QueryCall) -> body``.
        response: the response body type, for the OpenAPI document.
        waiter: the read model's :class:`ConsistencyWaiter`; None for reads straight from the
            log, which are always current.
        summary: a line for the OpenAPI document.
        tags: OpenAPI tags.
    """

    path: str
    handler: Callable[[QueryCall], Awaitable[Any]]
    response: Any = None
    waiter: ConsistencyWaiter | None = None
    summary: str | None = None
    tags: tuple[str, ...] = field(default=())


def _correlation(request: Request[Any, Any, Any]) -> str:
    given = request.headers.get(CORRELATION_HEADER.lower(), "").strip()
    if given and len(given) <= _MAX_CORRELATION and given.isprintable():
        return given
    return str(uuid7())


def command_handler(endpoint: CommandEndpoint) -> HTTPRouteHandler:
    """A Litestar route handler running ``endpoint``."""

    async def call(request: Request[Any, Any, Any], body: Any) -> Response[Any]:
        result = await endpoint.handler(
            CommandCall(
                body=body,
                path=dict(request.path_params),
                correlation_id=_correlation(request),
                request_id=str(uuid7()),
            )
        )
        headers = token_headers(result.position)
        if result.location:
            headers["Location"] = result.location
        return Response(result.body, status_code=endpoint.status_code, headers=headers)

    response_type = (
        cast(Any, Response)[endpoint.response] if endpoint.response is not None else Response[None]
    )
    if endpoint.body is None:

        async def without_body(request: Request[Any, Any, Any]) -> Any:
            return await call(request, None)

        function: Callable[..., Any] = without_body
        function.__annotations__ = {"request": Request, "return": response_type}
    else:

        async def with_body(request: Request[Any, Any, Any], data: Any) -> Any:
            return await call(request, data)

        function = with_body
        function.__annotations__ = {
            "request": Request,
            "data": cast(Any, JSONBody)[endpoint.body],
            "return": response_type,
        }
    return route(
        endpoint.path,
        http_method=[endpoint.method],
        status_code=endpoint.status_code,
        summary=endpoint.summary,
        tags=list(endpoint.tags) or None,
        name=f"{endpoint.method.lower()} {endpoint.path}",
    )(function)


def query_handler(endpoint: QueryEndpoint, store: EventStore, cap: float) -> HTTPRouteHandler:
    """A Litestar route handler running ``endpoint`` after the consistency wait."""

    async def answer(request: Request[Any, Any, Any]) -> Any:
        freshness = await await_token(request.headers, store, endpoint.waiter, cap)
        body = await endpoint.handler(
            QueryCall(
                path=dict(request.path_params),
                query=dict(request.query_params),
                freshness=freshness,
            )
        )
        headers: dict[str, str] = {}
        status = 200
        if freshness is not Freshness.NONE:
            headers[STATUS_HEADER] = freshness.value
        if freshness is Freshness.STALE:
            status = 202
            headers["Retry-After"] = "1"
        return Response(body, status_code=status, headers=headers)

    response_type = (
        cast(Any, Response)[endpoint.response] if endpoint.response is not None else Response[Any]
    )
    answer.__annotations__ = {"request": Request, "return": response_type}
    return route(
        endpoint.path,
        http_method=["GET"],
        summary=endpoint.summary,
        tags=list(endpoint.tags) or None,
        name=f"get {endpoint.path}",
    )(answer)
