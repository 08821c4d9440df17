"""Errors of the read side."""

from __future__ import annotations

from ..events import FactstreamError

__all__ = [
    "CheckpointConflict",
    "GenerationChanged",
    "ProjectionError",
    "ProjectionFailed",
    "ProjectionOutdated",
]


class ProjectionError(FactstreamError):
    """Base class of the read side's errors."""


class CheckpointConflict(ProjectionError):
    """The stored checkpoint is not where this runner left it: another runner of the same
    projection (or partition) moved it. The batch was rolled back; nothing was applied."""


class GenerationChanged(ProjectionError):
    """The generation this runner writes is no longer the active one (a rebuild swapped in a
    new one). The batch was rolled back."""


class ProjectionOutdated(ProjectionError):
    """The read model's stored version differs from the projection's code.

    A newer code version needs a rebuild (:func:`rebuild`, ``factstream projections
    rebuild``); an older one must not write to a read model built by newer code.
    """


class ProjectionFailed(ProjectionError):
    """The runner stopped on an error it cannot handle (its ``__cause__``)."""
