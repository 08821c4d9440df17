"""Waiting for a readiness check to turn healthy or unhealthy (bounded)."""

from __future__ import annotations

import asyncio

from factstream.http import CheckResult, HealthCheck


async def until(check: HealthCheck, healthy: bool, timeout: float = 30) -> CheckResult:
    """Poll ``check`` until its verdict is ``healthy``; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check.check()
            if result.healthy is healthy:
                return result
            await asyncio.sleep(0.05)
