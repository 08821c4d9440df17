"""What is being handled right now (a command, an event), for log records and spans.

The command bus, projections and consumer groups set it around each handler call, in a context
variable, so anything the handler logs can carry the correlation and causation ids without
passing them around (:mod:`factstream.observability.logging` puts them in every record).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

__all__ = ["HANDLING", "Correlated", "current_message", "handling"]


class Correlated(Protocol):
    """A command's context or a recorded event: anything with the two ids."""

    @property
    def correlation_id(self) -> str | None: ...

    @property
    def causation_id(self) -> str | None: ...


HANDLING: ContextVar[Correlated | None] = ContextVar("factstream_handling", default=None)
"""The command context or event whose handler runs in this context (``None``: neither)."""


def current_message() -> Correlated | None:
    """The command context or event being handled here, if any."""
    return HANDLING.get()


@contextmanager
def handling(message: Correlated) -> Iterator[None]:
    """Mark ``message`` as being handled for the duration of the block."""
    token = HANDLING.set(message)
    try:
        yield
    finally:
        HANDLING.reset(token)
