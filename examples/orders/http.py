"""The orders system over HTTP: its commands and queries as factstream endpoints.

::

    async with await OrdersSystem.open(OrdersSettings(store_url="sqlite:///shop.db")) as system:
        app = create_orders_app(HttpSettings(), system)   # an ASGI app (Litestar)

or from the command line: ``factstream serve --orders --store sqlite:///shop.db``.

Routes (besides the log, feed, health, metrics and console routes of ``factstream.http``):

=========================================  =====================================================
``POST /orders``                           ``{"customer_id"}`` -> 201 ``{"order_id"}``
``POST /orders/{id}/items``                ``{"sku", "quantity", "unit_price": "9.99"}``
``DELETE /orders/{id}/items/{sku}``        remove a line
``POST /orders/{id}/confirm|ship|cancel``  change the order's status
``GET /orders/{id}``                       the order and its lines (the ``orders`` read model)
``GET /customers/{id}/orders``             the customer's orders, oldest first
=========================================  =====================================================

Every write answers with the position it produced in ``Consistency-Token``; a read that sends
the token back waits (up to ``HttpSettings.consistency_timeout``) for the ``orders`` projection
to reach it, then answers ``Consistency-Status: fresh``, or 202 with ``Consistency-Status:
stale`` after the timeout. Domain errors are problem documents: malformed values and broken
rules 422, an order that exists already 409, a missing order 404.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Litestar

import factstream as fs
from factstream import http

from . import errors
from .commands import (
    AddItem,
    CancelOrder,
    ConfirmOrder,
    CreateOrder,
    ReceiveStock,
    RemoveItem,
    ShipOrder,
    new_order_id,
)
from .compose import OrdersSystem
from .projections import OrdersProjection, RevenuePerDay
from .queries import GetOrder, GetOrdersByCustomer, StaleReadModel
from .views import OrderSummary, OrderView

if TYPE_CHECKING:
    from factstream.observability import Metrics

__all__ = [
    "PROJECTIONS",
    "AddItemBody",
    "CreateOrderBody",
    "OrderChanged",
    "OrderCreated",
    "create_orders_app",
    "orders_endpoints",
    "orders_problem_types",
]

PROJECTIONS = (OrdersProjection.name, RevenuePerDay.name)
"""The read models of the orders system, shown by the console (status, lag, dead letters)."""

_TAGS = ("orders",)


class CreateOrderBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /orders``; ``order_id`` optional (a new UUIDv7 by default): a client that
    chooses it can retry the request safely, a second order with that id is refused (409)."""

    customer_id: str
    order_id: str | None = None


class AddItemBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /orders/{id}/items``: ``unit_price`` as a string (``"9.99"``), never a float."""

    sku: str
    quantity: int
    unit_price: Decimal


class ReceiveStockBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Units of a SKU that arrived in the warehouse."""

    quantity: int


class StockReceived(msgspec.Struct, frozen=True):
    sku: str
    position: int


class OrderCreated(msgspec.Struct, frozen=True):
    order_id: str


class OrderChanged(msgspec.Struct, frozen=True):
    """A write's answer: the order and the position its events reached (also the
    ``Consistency-Token``)."""

    order_id: str
    position: int


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def orders_problem_types() -> dict[type[Exception], http.ProblemType]:
    """How the orders domain's errors are answered.

    Every :class:`~examples.orders.errors.RuleBroken` and ``InvalidInput`` is a 422 whose type
    names the rule (``urn:factstream:problem:order-not-open``...), except
    ``OrderAlreadyExists`` (409); ``fs.AggregateNotFound`` is 404 and a read model that did
    not catch up in time (``StaleReadModel``) 503.
    """
    types: dict[type[Exception], http.ProblemType] = {}
    for name in errors.__all__:
        cls = getattr(errors, name)
        if issubclass(cls, errors.OrderError) and cls is not errors.OrderError:
            types[cls] = http.ProblemType(422, _kebab(name))
    types[errors.OrderAlreadyExists] = http.ProblemType(409, "order-already-exists")
    types[fs.AggregateNotFound] = http.ProblemType(404, "order-not-found")
    types[StaleReadModel] = http.ProblemType(503, "read-model-behind")
    return types


def orders_endpoints(system: OrdersSystem) -> list[http.CommandEndpoint | http.QueryEndpoint]:
    """The orders system's commands and queries as HTTP endpoints."""
    bus = system.commands

    async def dispatch(command: Any, call: http.CommandCall[Any]) -> int:
        result: fs.AppendResult | None = await bus.dispatch(
            command,
            command_id=uuid.UUID(call.request_id),
            correlation_id=call.correlation_id,
        )
        if result is not None:
            return result.position
        # Nothing new was stored: whatever the log holds now covers the command's effect.
        return await system.store.head_position()

    async def create(call: http.CommandCall[CreateOrderBody]) -> http.CommandResult:
        order_id = call.body.order_id or new_order_id()
        position = await dispatch(CreateOrder(order_id, call.body.customer_id), call)
        return http.CommandResult(position, OrderCreated(order_id), location=f"/orders/{order_id}")

    Change = Callable[[http.CommandCall[Any]], Awaitable[http.CommandResult]]

    def changes(make: Callable[[str, http.CommandCall[Any]], object]) -> Change:
        async def change(call: http.CommandCall[Any]) -> http.CommandResult:
            order_id = call.path["order_id"]
            position = await dispatch(make(order_id, call), call)
            return http.CommandResult(position, OrderChanged(order_id, position))

        return change

    async def receive_stock(call: http.CommandCall[ReceiveStockBody]) -> http.CommandResult:
        sku = call.path["sku"]
        position = await dispatch(ReceiveStock(sku, call.body.quantity), call)
        return http.CommandResult(position, StockReceived(sku, position))

    def add_item(order_id: str, call: http.CommandCall[AddItemBody]) -> AddItem:
        body = call.body
        return AddItem(order_id, body.sku, body.quantity, body.unit_price)

    async def get_order(call: http.QueryCall) -> OrderView:
        order_id = call.path["order_id"]
        view = await system.queries.ask(GetOrder(order_id))
        if view is None:
            raise _missing(f"there is no order {order_id!r}", call.freshness)
        return view

    async def orders_of(call: http.QueryCall) -> list[OrderSummary]:
        return await system.queries.ask(GetOrdersByCustomer(call.path["customer_id"]))

    order = "/orders/{order_id:str}"
    waiter = system.read_models.waiter(OrdersProjection.name)
    return [
        http.CommandEndpoint(
            "/orders",
            create,
            body=CreateOrderBody,
            response=OrderCreated,
            status_code=201,
            summary="Open an order for a customer",
            tags=_TAGS,
        ),
        http.CommandEndpoint(
            f"{order}/items",
            changes(add_item),
            body=AddItemBody,
            response=OrderChanged,
            summary="Add a line (or more of a SKU already in the order)",
            tags=_TAGS,
        ),
        http.CommandEndpoint(
            f"{order}/items/{{sku:str}}",
            changes(lambda order_id, call: RemoveItem(order_id, call.path["sku"])),
            method="DELETE",
            response=OrderChanged,
            summary="Remove a SKU's line",
            tags=_TAGS,
        ),
        http.CommandEndpoint(
            f"{order}/confirm",
            changes(lambda order_id, call: ConfirmOrder(order_id)),
            response=OrderChanged,
            summary="Confirm an open order (the fulfilment saga then reserves and ships it)",
            tags=_TAGS,
        ),
        http.CommandEndpoint(
            f"{order}/ship",
            changes(lambda order_id, call: ShipOrder(order_id)),
            response=OrderChanged,
            summary="Ship a confirmed order",
            tags=_TAGS,
        ),
        http.CommandEndpoint(
            f"{order}/cancel",
            changes(lambda order_id, call: CancelOrder(order_id)),
            response=OrderChanged,
            summary="Cancel an order that has not shipped",
            tags=_TAGS,
        ),
        http.CommandEndpoint(
            "/stock/{sku:str}",
            receive_stock,
            body=ReceiveStockBody,
            response=StockReceived,
            summary="Receive units of a SKU (what the fulfilment saga reserves from)",
            tags=("stock",),
        ),
        http.QueryEndpoint(
            order,
            get_order,
            response=OrderView,
            waiter=waiter,
            summary="An order and its lines",
            tags=_TAGS,
        ),
        http.QueryEndpoint(
            "/customers/{customer_id:str}/orders",
            orders_of,
            response=list[OrderSummary],
            waiter=waiter,
            summary="A customer's orders, oldest first",
            tags=_TAGS,
        ),
    ]


def _missing(detail: str, freshness: http.Freshness) -> http.Problem:
    if freshness is http.Freshness.STALE:
        # The read model is behind the client's write: the order may just not be there yet.
        return http.NotFound(
            f"{detail} yet: the read model has not caught up with your write; retry",
            headers={http.STATUS_HEADER: freshness.value, "Retry-After": "1"},
        )
    return http.NotFound(detail, kind="order-not-found")


def create_orders_app(
    settings: http.HttpSettings,
    system: OrdersSystem,
    *,
    store: fs.EventStore | None = None,
    metrics: Metrics | None = None,
    problem_types: Mapping[type[Exception], http.ProblemType] | None = None,
    tracer_provider: Any = None,
) -> Litestar:
    """The HTTP API and web console of a running orders system.

    Args:
        settings: the HTTP settings (bind address, token, limits, consistency timeout).
        system: the opened system; the caller closes it after the app has stopped.
        store: the store the app's own routes read (the log, the feed), e.g. the system's store
            wrapped in an ``InstrumentedEventStore``; ``system.store`` by default.
        metrics: served at ``/metrics``.
        problem_types: more (or other) error mappings besides :func:`orders_problem_types`.
        tracer_provider: an OpenTelemetry tracer provider: every request gets a SERVER span
            (pass the one the system was opened with, so a command's trace starts there).
    """
    store = store or system.store
    status = http.ProjectionsStatus(system.read_target, store, expected=PROJECTIONS)
    return http.create_app(
        settings,
        store,
        endpoints=orders_endpoints(system),
        problem_types={**orders_problem_types(), **(problem_types or {})},
        metrics=metrics,
        health_checks=[status],
        projections=status,
        dead_letters=http.ProjectionDeadLetters(system.read_target, PROJECTIONS),
        projection_control=system.read_models,
        tracer_provider=tracer_provider,
    )
