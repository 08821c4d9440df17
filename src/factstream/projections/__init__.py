"""The read side: projections, their runners, read models and dead letters."""

from .deadletters import DeadLetter, DeadLetters, ParkedStream
from .errors import (
    CheckpointConflict,
    GenerationChanged,
    ProjectionError,
    ProjectionFailed,
    ProjectionOutdated,
)
from .policy import RetryPolicy, partition_of
from .projection import Projection, handles
from .readmodels.postgres import PostgresTarget
from .readmodels.sql import SqlTarget, SqlTransaction
from .readmodels.sqlite import SqliteTarget
from .runner import ProjectionRunner

__all__ = [
    "CheckpointConflict",
    "DeadLetter",
    "DeadLetters",
    "GenerationChanged",
    "ParkedStream",
    "PostgresTarget",
    "Projection",
    "ProjectionError",
    "ProjectionFailed",
    "ProjectionOutdated",
    "ProjectionRunner",
    "RetryPolicy",
    "SqlTarget",
    "SqlTransaction",
    "SqliteTarget",
    "handles",
    "partition_of",
]
