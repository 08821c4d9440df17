"""Schemathesis against the app's own OpenAPI document, over a real server on loopback:
whatever it sends, no 500s, every error is problem+json without internals, and nothing
that breaks the domain's rules gets stored."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import schemathesis

import factstream as fs
from factstream.http import HttpSettings, create_app
from tests.integration.fuzz_support import ThreadedServer, call_and_check, fuzz_settings
from tests.unit.http.support import (
    PROBLEM_TYPES,
    TOKEN,
    CounterModel,
    counter_endpoints,
    populate,
    sample_dead_letters,
    serving,
)

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SETTINGS = HttpSettings(token=TOKEN, consistency_timeout=0.2, max_body_bytes=64_000)


def _app(store: Any, model: Any, dead_letters: Any = None) -> Any:
    return create_app(
        SETTINGS,
        store,
        endpoints=counter_endpoints(store, model),
        problem_types=PROBLEM_TYPES,
        projections=model,
        dead_letters=dead_letters,
    )


def _document() -> dict[str, Any]:
    # The document only: built from an app whose collaborators are never called.
    store = fs.MemoryEventStore()
    document: dict[str, Any] = _app(store, CounterModel(store)).openapi_schema.to_schema()
    # The broken endpoint exists to test 500 handling; the fuzzer must not count it.
    document["paths"].pop("/broken", None)
    return document


schema = schemathesis.openapi.from_dict(_document())


@contextlib.asynccontextmanager
async def _serve(path: pathlib.Path) -> AsyncIterator[str]:
    async with fs.connect(f"sqlite:///{path}") as store:
        await populate(store)
        async with (
            CounterModel(store) as model,
            serving(_app(store, model, sample_dead_letters())) as base,
        ):
            yield base
        watcher = getattr(store, "_watcher", None)  # see tests/unit/http/conftest.py
        if watcher is not None:
            await asyncio.shield(watcher)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    with ThreadedServer(lambda: _serve(path)) as running:
        yield running


@pytest.mark.slow
@schema.parametrize()
@fuzz_settings(max_examples=40)
def test_no_request_gets_a_server_error(case: Any, server: ThreadedServer) -> None:
    if case.path == "/events" and case.method == "GET":
        pytest.skip("the live feed never ends; it has its own tests")
    call_and_check(case, server.base, AUTH)


@pytest.mark.slow
def test_fuzzing_stored_nothing_that_breaks_the_rules(server: ThreadedServer) -> None:
    with httpx.Client(base_url=server.base, headers=AUTH, timeout=10) as client:
        position = 1
        while True:
            page = client.get("/log", params={"from": position, "limit": 1000}).json()
            for event in page["events"]:
                if event["type"] == "Incremented":
                    assert 1 <= event["data"]["by"] <= 100, event
                    assert event["stream_id"].startswith("counter-"), event
            if page["next_position"] is None:
                break
            position = page["next_position"]
