"""Reaching the real services (PostgreSQL, Redis, NATS) from tests.

On a developer's machine without a service, tests that need it skip and say why. In CI
(``FACTSTREAM_REQUIRE_SERVICES=1``) a missing service fails the test instead.
"""

from __future__ import annotations

import os
import socket

import pytest

REQUIRED = os.environ.get("FACTSTREAM_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "FACTSTREAM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    """Skip (or, in CI, fail) the calling test when the service is not listening."""
    if reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if REQUIRED:
        pytest.fail(f"{message}, and FACTSTREAM_REQUIRE_SERVICES=1 requires it")
    pytest.skip(f"{message}; start it to run this test")
