"""The HTTP surface (extra ``http``): an ASGI app (Litestar) with commands, queries, the event
log, its live Server-Sent Events feed, health, metrics and the web console.

Build it with :func:`create_app`; run it with ``factstream serve`` or any ASGI server.
"""

from ..store.catalog import StreamInfo
from .app import create_app
from .consistency import STATUS_HEADER, TOKEN_HEADER, Freshness
from .endpoints import CommandCall, CommandEndpoint, CommandResult, QueryCall, QueryEndpoint
from .ports import (
    CheckResult,
    ConsistencyWaiter,
    DeadLetter,
    DeadLetterSource,
    HealthCheck,
    ProjectionControl,
    ProjectionStatus,
    ProjectionStatusSource,
)
from .problems import Conflict, NotFound, Problem, ProblemType, Unprocessable
from .readside import ProjectionDeadLetters, ProjectionsStatus
from .settings import HttpSettings, is_loopback
from .streaming_health import StreamingStatus

__all__ = [
    "STATUS_HEADER",
    "TOKEN_HEADER",
    "CheckResult",
    "CommandCall",
    "CommandEndpoint",
    "CommandResult",
    "Conflict",
    "ConsistencyWaiter",
    "DeadLetter",
    "DeadLetterSource",
    "Freshness",
    "HealthCheck",
    "HttpSettings",
    "NotFound",
    "Problem",
    "ProblemType",
    "ProjectionControl",
    "ProjectionDeadLetters",
    "ProjectionStatus",
    "ProjectionStatusSource",
    "ProjectionsStatus",
    "QueryCall",
    "QueryEndpoint",
    "StreamInfo",
    "StreamingStatus",
    "Unprocessable",
    "create_app",
    "is_loopback",
]
