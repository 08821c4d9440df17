"""The read side: projections, their runners, read models and dead letters."""

from .cache import RedisQueryCache
from .deadletters import DeadLetter, DeadLetters, ParkedStream
from .errors import (
    CheckpointConflict,
    GenerationChanged,
    ProjectionError,
    ProjectionFailed,
    ProjectionOutdated,
)
from .leases import PartitionedWorker
from .policy import RetryPolicy, partition_of
from .process import (
    Dispatcher,
    ProcessContext,
    ProcessManager,
    RecordingDispatcher,
    SentCommand,
    command_id_for,
)
from .projection import Projection, handles
from .readmodels.postgres import PostgresTarget
from .readmodels.redis import RedisTarget, RedisTransaction
from .readmodels.sql import SqlTarget, SqlTransaction
from .readmodels.sqlite import SqliteTarget
from .runner import ProjectionRunner
from .waiters import CheckpointWaiter

__all__ = [
    "CheckpointConflict",
    "CheckpointWaiter",
    "DeadLetter",
    "DeadLetters",
    "Dispatcher",
    "GenerationChanged",
    "ParkedStream",
    "PartitionedWorker",
    "PostgresTarget",
    "ProcessContext",
    "ProcessManager",
    "RecordingDispatcher",
    "RedisQueryCache",
    "RedisTarget",
    "RedisTransaction",
    "Projection",
    "ProjectionError",
    "ProjectionFailed",
    "ProjectionOutdated",
    "ProjectionRunner",
    "RetryPolicy",
    "SentCommand",
    "SqlTarget",
    "SqlTransaction",
    "SqliteTarget",
    "command_id_for",
    "handles",
    "partition_of",
]
