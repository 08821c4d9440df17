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


HANDLING: ContextVar[list[Correlated | None] | None] = ContextVar(
    "factstream_handling", default=None
)
"""A one-item list holding the command context or event whose handler runs in this context.

A list rather than the message itself so that a loop over a batch sets the variable once and
then only replaces the item per event (setting a context variable allocates; this does not).
"""


def current_message() -> Correlated | None:
    """The command context or event being handled here, if any."""
    cell = HANDLING.get()
    return None if cell is None else cell[0]


@contextmanager
def handling(message: Correlated) -> Iterator[None]:
    """Mark ``message`` as being handled for the duration of the block."""
    token = HANDLING.set([message])
    try:
        yield
    finally:
        HANDLING.reset(token)
