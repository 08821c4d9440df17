from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import pytest

from factstream.testing.contracts import StoreHarness

from .harnesses import HARNESSES, SHARED


@pytest.fixture(params=list(HARNESSES))
async def harness(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[StoreHarness]:
    made = HARNESSES[request.param](tmp_path)
    yield made
    await made.cleanup()


@pytest.fixture(params=SHARED)
async def shared_harness(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[StoreHarness]:
    made = HARNESSES[request.param](tmp_path)
    yield made
    await made.cleanup()
