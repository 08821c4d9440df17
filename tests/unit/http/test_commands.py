"""Commands and queries registered by the application; read-your-writes with the
Consistency-Token header; errors as problem documents."""

from __future__ import annotations

import logging

import pytest

import factstream as fs

from .conftest import AppFactory
from .support import CounterModel, running

PROBLEM = "application/problem+json"


async def test_a_write_returns_its_position_as_a_consistency_token(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    async with running(make_app()) as client:
        created = await client.post("/counters")
        assert created.status_code == 201
        counter_id = created.json()["counter_id"]
        assert created.headers["location"] == f"/counters/{counter_id}"
        assert int(created.headers["consistency-token"]) == await store.head_position()
        moved = await client.post(f"/counters/{counter_id}/increment", json={"by": 5})
        assert moved.status_code == 200
        assert moved.json() == {"counter_id": counter_id, "total": 5}
        assert int(moved.headers["consistency-token"]) == await store.head_position()


async def test_a_read_with_the_token_sees_the_write(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    async with running(make_app()) as client:
        counter_id = (await client.post("/counters")).json()["counter_id"]
        for _ in range(3):
            moved = await client.post(f"/counters/{counter_id}/increment", json={"by": 2})
            token = moved.headers["consistency-token"]
            read = await client.get(f"/counters/{counter_id}", headers={"Consistency-Token": token})
            assert read.status_code == 200
            assert read.headers["consistency-status"] == "fresh"
        assert read.json()["total"] == 6


async def test_a_read_model_that_lags_past_the_wait_gives_202_stale(
    store: fs.EventStore, make_app: AppFactory, model: CounterModel
) -> None:
    async with running(make_app()) as client:
        counter_id = (await client.post("/counters")).json()["counter_id"]
        token = (await client.post(f"/counters/{counter_id}/increment", json={"by": 1})).headers[
            "consistency-token"
        ]
        await model.wait_for(int(token), timeout=10)
        model.pause()
        token = (await client.post(f"/counters/{counter_id}/increment", json={"by": 1})).headers[
            "consistency-token"
        ]
        stale = await client.get(
            f"/counters/{counter_id}",
            headers={"Consistency-Token": token, "Prefer": "wait=0.05"},
        )
        assert stale.status_code == 202
        assert stale.headers["consistency-status"] == "stale"
        assert stale.headers["retry-after"] == "1"
        assert stale.json()["total"] == 1  # the model has not seen the second increment
        model.resume()
        fresh = await client.get(f"/counters/{counter_id}", headers={"Consistency-Token": token})
        assert fresh.status_code == 200
        assert fresh.json()["total"] == 2


async def test_a_read_without_a_token_does_not_wait(make_app: AppFactory) -> None:
    async with running(make_app()) as client:
        counter_id = (await client.post("/counters")).json()["counter_id"]
        response = await client.get(f"/counters/{counter_id}")
        assert "consistency-status" not in response.headers


@pytest.mark.parametrize("token", ["abc", "-1", "1.5", "9" * 30, "0x10"])
async def test_malformed_tokens_are_400(make_app: AppFactory, token: str) -> None:
    async with running(make_app()) as client:
        counter_id = (await client.post("/counters")).json()["counter_id"]
        response = await client.get(f"/counters/{counter_id}", headers={"Consistency-Token": token})
        assert response.status_code == 400
        assert response.json()["type"] == "urn:factstream:problem:invalid-consistency-token"


async def test_a_token_beyond_the_log_is_400_not_a_long_wait(make_app: AppFactory) -> None:
    async with running(make_app()) as client:
        counter_id = (await client.post("/counters")).json()["counter_id"]
        response = await client.get(
            f"/counters/{counter_id}", headers={"Consistency-Token": "1000000"}
        )
        assert response.status_code == 400


async def test_a_stale_expected_version_is_a_409_conflict(make_app: AppFactory) -> None:
    async with running(make_app()) as client:
        counter_id = (await client.post("/counters")).json()["counter_id"]
        response = await client.post(
            f"/counters/{counter_id}/increment", json={"by": 1, "expected_version": 7}
        )
        assert response.status_code == 409
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["type"] == "urn:factstream:problem:wrong-expected-version"
        assert problem["stream_id"] == counter_id
        assert (problem["expected"], problem["actual"]) == (7, 1)


async def test_broken_invariants_are_422(make_app: AppFactory) -> None:
    async with running(make_app()) as client:
        counter_id = (await client.post("/counters")).json()["counter_id"]
        raised = await client.post(f"/counters/{counter_id}/increment", json={"by": 500})
        assert raised.status_code == 422
        assert raised.json()["by"] == 500
        for _ in range(10):
            await client.post(f"/counters/{counter_id}/increment", json={"by": 100})
        mapped = await client.post(f"/counters/{counter_id}/increment", json={"by": 1})
        assert mapped.status_code == 422
        assert mapped.json()["type"] == "urn:factstream:problem:counter-limit"
        assert "would pass 1000" in mapped.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [b"{", b"[]", b'{"by": "two"}', b'{"by": 1.5}', b"{}", b'{"by": true}', b"\xff\xfe"],
)
async def test_malformed_bodies_are_400_problems(make_app: AppFactory, body: bytes) -> None:
    async with running(make_app()) as client:
        counter_id = (await client.post("/counters")).json()["counter_id"]
        response = await client.post(
            f"/counters/{counter_id}/increment",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == 400


async def test_unknown_aggregates_are_404(make_app: AppFactory) -> None:
    async with running(make_app()) as client:
        response = await client.post("/counters/missing/increment", json={"by": 1})
        assert response.status_code == 404
        assert (await client.get("/counters/missing")).status_code == 404


async def test_an_unexpected_error_is_a_500_without_internals(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(make_app()) as client:
        with caplog.at_level(logging.ERROR, logger="factstream.http"):
            response = await client.get("/broken")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    text = response.text
    assert "secret" not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    error_id = response.json()["error_id"]
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None


async def test_correlation_ids_from_the_request_reach_the_events(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    async with running(make_app()) as client:
        created = await client.post("/counters", headers={"X-Correlation-ID": "checkout-77"})
    stored = await store.read(created.json()["counter_id"])
    assert stored[0].correlation_id == "checkout-77"
    assert stored[0].causation_id  # the request id
