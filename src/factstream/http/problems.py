"""Errors as RFC 9457 problem details (``application/problem+json``), never stack traces.

Handlers raise :class:`Problem` (or one of its subclasses) for HTTP outcomes; factstream's own
errors are mapped here (conflicts are 409, bad input 400, an unavailable store 503); the
application adds its domain errors with ``create_app(problem_types=...)``. Anything else is a
500 whose body carries only an ``error_id`` that is also in the server log with the traceback.
"""

from __future__ import annotations

import http
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from ..events import (
    DuplicateEventId,
    InvalidEvent,
    StoreClosed,
    StoreUnavailable,
    WrongExpectedVersion,
)
from ..events.versions import StreamState

__all__ = [
    "MEDIA_TYPE",
    "Conflict",
    "NotFound",
    "Problem",
    "ProblemType",
    "Unprocessable",
    "problem_body",
    "problem_handler",
]

MEDIA_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:factstream:problem:"
_log = logging.getLogger("factstream.http")


class Problem(Exception):
    """An HTTP error with a problem-details body.

    Args:
        status: the HTTP status code.
        detail: what went wrong in this occurrence, for people.
        kind: a short slug naming the problem type (``conflict``, ``not-found``...).
        title: a summary of the problem type; the status phrase by default.
        headers: extra response headers.
        extensions: more members of the body (machine-readable context).
    """

    status = 500
    kind = "error"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        kind: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if kind is not None:
            self.kind = kind
        self.title = title or _phrase(self.status)
        self.headers = dict(headers or {})
        self.extensions = extensions


class NotFound(Problem):
    """404: the resource does not exist."""

    status = 404
    kind = "not-found"


class Conflict(Problem):
    """409: the request conflicts with the current state (a concurrent write)."""

    status = 409
    kind = "conflict"


class Unprocessable(Problem):
    """422: the request is well-formed but breaks a rule of the domain (an invariant)."""

    status = 422
    kind = "invariant-broken"


@dataclass(frozen=True, slots=True)
class ProblemType:
    """How a domain exception is answered: ``create_app(problem_types={OrderNotFound:
    ProblemType(404, "order-not-found")})``. The exception's message becomes the detail."""

    status: int
    kind: str
    title: str | None = None


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    **extensions: Any,
) -> bytes:
    """An encoded problem document."""
    body: dict[str, Any] = {
        "type": f"{_TYPE_PREFIX}{kind}" if kind else "about:blank",
        "title": title or _phrase(status),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    for key, value in extensions.items():
        if key not in body:
            body[key] = value
    return msgspec.json.encode(body)


def _expected(value: object) -> object:
    return value.value if isinstance(value, StreamState) else value


def _known(exc: Exception, types: Mapping[type[Exception], ProblemType]) -> Problem | None:
    if isinstance(exc, Problem):
        return exc
    for cls in type(exc).__mro__:
        found = types.get(cls)
        if found is not None:
            return Problem(str(exc), status=found.status, kind=found.kind, title=found.title)
    if isinstance(exc, WrongExpectedVersion):
        return Conflict(
            str(exc),
            kind="wrong-expected-version",
            stream_id=exc.stream_id,
            expected=_expected(exc.expected),
            actual=exc.actual,
        )
    if isinstance(exc, DuplicateEventId):
        return Conflict(str(exc), kind="duplicate-event-id", stream_id=exc.stream_id)
    if isinstance(exc, InvalidEvent):
        return Problem(str(exc), status=400, kind="invalid-input")
    if isinstance(exc, StoreUnavailable | StoreClosed):
        return Problem(
            "the event store is unavailable; retry shortly",
            status=503,
            kind="store-unavailable",
            headers={"Retry-After": "1"},
        )
    return None


def _from_http_exception(exc: HTTPException) -> Problem:
    status = exc.status_code
    if status >= 500:
        return Problem("the server could not answer; see its log", status=status)
    extensions: dict[str, Any] = {}
    kind = None
    if isinstance(exc, ValidationException):
        kind = "validation"
        if isinstance(exc.extra, list):
            extensions["errors"] = [_public_error(item) for item in exc.extra]
    elif status == 413:
        kind = "too-large"
    detail = exc.detail or _phrase(status)
    return Problem(detail, status=status, kind=kind, headers=exc.headers or {}, **extensions)


def _public_error(item: object) -> object:
    # Litestar's validation errors are plain dicts of message/key/source: safe to show.
    if isinstance(item, dict):
        return {k: v for k, v in item.items() if k in ("message", "key", "source")}
    return str(item)


def problem_handler(types: Mapping[type[Exception], ProblemType]) -> Any:
    """A Litestar exception handler answering every exception with problem details."""

    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
        problem = _known(exc, types)
        if problem is None and isinstance(exc, HTTPException):
            problem = _from_http_exception(exc)
        if problem is None:
            error_id = str(uuid.uuid4())
            _log.error(
                "unhandled error %s on %s %s",
                error_id,
                request.method,
                request.url.path,
                exc_info=exc,
            )
            problem = Problem(
                "the server failed to answer; report the error_id to its operators",
                status=500,
                kind="internal",
                error_id=error_id,
            )
        body = problem_body(
            problem.status,
            problem.detail,
            kind=problem.kind if problem.kind != "error" else None,
            title=problem.title,
            instance=request.url.path,
            **problem.extensions,
        )
        return Response(
            content=body,
            status_code=problem.status,
            media_type=MEDIA_TYPE,
            headers=problem.headers,
        )

    return handle
