"""``/health/live``, ``/health/ready`` (registered checks) and ``/metrics`` (Prometheus).

Liveness says only that the process answers HTTP (restart it if not). Readiness runs every
check concurrently, each with a time limit, and answers 503 when any fails, in the
``application/health+json`` shape (``status``: ``pass``/``fail``, one entry per check).
A check that raises or does not answer in time counts as failed; its detail names the
exception class only, never a traceback.
"""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec

from ..observability import Metrics
from ..store.base import EventStore
from .ports import CheckResult, HealthCheck

__all__ = ["HEALTH_MEDIA_TYPE", "StoreCheck", "health_routes", "metrics_route", "run_checks"]

HEALTH_MEDIA_TYPE = "application/health+json"
_log = logging.getLogger("factstream.http")


class StoreCheck:
    """Ready when the event store answers a head-position query."""

    name = "event-store"

    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def check(self) -> CheckResult:
        head = await self._store.head_position()
        return CheckResult(healthy=True, observed={"head_position": head})


async def _one(check: HealthCheck, timeout: float) -> CheckResult:
    try:
        async with asyncio.timeout(timeout):
            return await check.check()
    except TimeoutError:
        return CheckResult(healthy=False, detail=f"no answer within {timeout:g} s")
    except Exception as exc:
        _log.warning("health check %s failed", check.name, exc_info=exc)
        return CheckResult(healthy=False, detail=f"the check raised {type(exc).__name__}")


async def run_checks(checks: Sequence[HealthCheck], timeout: float) -> dict[str, Any]:
    """Run ``checks`` concurrently; the health+json document."""
    results = await asyncio.gather(*(_one(check, timeout) for check in checks))
    entries = {}
    for check, result in zip(checks, results, strict=True):
        entry: dict[str, Any] = {"status": "pass" if result.healthy else "fail"}
        if result.detail:
            entry["detail"] = result.detail
        if result.observed:
            entry["observed"] = result.observed
        entries[check.name] = entry
    healthy = all(result.healthy for result in results)
    return {"status": "pass" if healthy else "fail", "checks": entries}


class Liveness(msgspec.Struct, frozen=True):
    status: str


class Readiness(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, Any]


def health_routes(checks: Sequence[HealthCheck], timeout: float) -> list[HTTPRouteHandler]:
    @get("/health/live", tags=["operations"], summary="The process answers HTTP")
    async def live() -> Response[Liveness]:
        return Response(Liveness(status="pass"), media_type=HEALTH_MEDIA_TYPE)

    @get(
        "/health/ready",
        tags=["operations"],
        summary="Every readiness check passes (503 otherwise)",
        responses={503: ResponseSpec(data_container=Readiness, description="A check failed")},
    )
    async def ready() -> Response[Readiness]:
        document = await run_checks(checks, timeout)
        status = 200 if document["status"] == "pass" else 503
        return Response(
            Readiness(status=document["status"], checks=document["checks"]),
            status_code=status,
            media_type=HEALTH_MEDIA_TYPE,
        )

    return [live, ready]


def metrics_route(metrics: Metrics) -> HTTPRouteHandler:
    @get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics (text exposition format)",
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
    async def exposition() -> bytes:
        return metrics.exposition()

    return exposition
