"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import pytest

from tests.contract.harnesses import PostgresHarness


@pytest.fixture
async def pg(tmp_path: pathlib.Path) -> AsyncIterator[PostgresHarness]:
    """PostgreSQL stores in schemas of their own on the shared server, dropped afterwards."""
    harness = PostgresHarness(tmp_path)
    yield harness
    await harness.cleanup()
