"""Errors of the domain layer."""

from __future__ import annotations

from ..events import FactstreamError

__all__ = [
    "AggregateNotFound",
    "DomainError",
    "HandlerNotFound",
    "MissingApplier",
]


class DomainError(FactstreamError):
    """Base class for business rule violations raised by command methods.

    Subclass it for your own rules (``OrderAlreadyPaid``); the command bus does not retry it and
    surfaces (HTTP, CLI) can report it as the caller's mistake rather than a failure.
    """


class AggregateNotFound(FactstreamError, LookupError):
    """No events exist for the aggregate (or none before the requested version or time)."""

    def __init__(self, aggregate_type: str, aggregate_id: str, stream_id: str) -> None:
        self.aggregate_type = aggregate_type
        self.aggregate_id = aggregate_id
        self.stream_id = stream_id
        super().__init__(f"{aggregate_type} {aggregate_id!r} not found (stream {stream_id!r})")

    def __reduce__(self) -> tuple[type[AggregateNotFound], tuple[str, str, str]]:
        return (type(self), (self.aggregate_type, self.aggregate_id, self.stream_id))


class MissingApplier(FactstreamError, TypeError):
    """An aggregate was given an event type it has no ``@applies`` handler for."""


class HandlerNotFound(FactstreamError, LookupError):
    """A command or query was dispatched, but no handler is registered for its type."""
