"""Reading streams and events over HTTP, and the problem documents for bad requests."""

from __future__ import annotations

import uuid

import pytest

import factstream as fs
from factstream.http import HttpSettings, create_app

from .conftest import AppFactory
from .support import running

PROBLEM = "application/problem+json"


async def _fill(store: fs.EventStore) -> None:
    for n in range(5):
        await store.append(
            f"order-{n}",
            [fs.NewEvent("Placed", {"n": n}), fs.NewEvent("Paid", {"n": n})],
        )
    await store.append("customer-1", [fs.NewEvent("Registered", {})])


async def test_streams_are_listed_in_id_order_page_by_page(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    await _fill(store)
    async with running(make_app()) as client:
        first = (await client.get("/streams", params={"limit": 4})).json()
        assert [s["stream_id"] for s in first["streams"]] == [
            "customer-1",
            "order-0",
            "order-1",
            "order-2",
        ]
        listed = first["streams"][1]
        [newest] = await store.read("order-0", backwards=True, limit=1)
        assert listed == {
            "stream_id": "order-0",
            "version": 2,
            "last_position": newest.position,
            "last_recorded_at": newest.timestamp.isoformat().replace("+00:00", "Z"),
        }
        rest = (await client.get("/streams", params={"after": first["next_after"]})).json()
        assert [s["stream_id"] for s in rest["streams"]] == ["order-3", "order-4"]
        assert rest["next_after"] is None
        orders = (await client.get("/streams", params={"prefix": "order-"})).json()
        assert len(orders["streams"]) == 5


async def test_a_stream_reads_forwards_and_backwards(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    await _fill(store)
    async with running(make_app()) as client:
        page = (await client.get("/streams/order-3")).json()
        assert page["version"] == 2
        assert [e["type"] for e in page["events"]] == ["Placed", "Paid"]
        assert page["events"][0]["data"] == {"n": 3}
        newest = (await client.get("/streams/order-3?backwards=true&limit=1")).json()
        assert [e["type"] for e in newest["events"]] == ["Paid"]
        assert newest["next_version"] == 1


async def test_stream_ids_with_slashes_are_readable(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    await store.append("tenant/a/order-1", [fs.NewEvent("Placed", {})])
    async with running(make_app()) as client:
        page = (await client.get("/streams/tenant/a/order-1")).json()
        assert page["stream_id"] == "tenant/a/order-1"


async def test_events_are_found_by_position_and_by_id(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    await _fill(store)
    third = (await store.read("order-1"))[0]
    async with running(make_app()) as client:
        by_position = (await client.get(f"/events/{third.position}")).json()
        assert by_position["id"] == str(third.id)
        assert by_position["stream_id"] == "order-1"
        by_id = (await client.get(f"/events/by-id/{third.id}")).json()
        assert by_id["position"] == third.position


async def test_related_events_follow_causation_and_correlation(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    placed = fs.NewEvent("Placed", {}, correlation_id="req-7")
    await store.append("order-1", [placed])
    await store.append("noise", [fs.NewEvent("Other", {})])
    await store.append(
        "stock-1",
        [fs.NewEvent("Reserved", {}, correlation_id="req-7", causation_id=str(placed.id))],
    )
    async with running(make_app()) as client:
        related = (await client.get("/events/1/related")).json()
        assert [e["type"] for e in related["caused"]] == ["Reserved"]
        assert [e["type"] for e in related["correlated"]] == ["Reserved"]
        assert related["caused_by"] is None
        back = (await client.get("/events/3/related")).json()
        assert back["caused_by"]["id"] == str(placed.id)


async def test_the_log_pages_from_the_newest_events(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    await _fill(store)
    async with running(make_app()) as client:
        latest = (await client.get("/log", params={"limit": 3})).json()
        assert latest["head_position"] == 11
        assert [e["position"] for e in latest["events"]] == [9, 10, 11]
        first = (await client.get("/log", params={"from": 1, "limit": 3})).json()
        assert first["next_position"] == 4


async def test_missing_things_are_404_problems(store: fs.EventStore, make_app: AppFactory) -> None:
    async with running(make_app()) as client:
        for path in ("/streams/nope", "/events/99", f"/events/by-id/{uuid.uuid4()}", "/nowhere"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == PROBLEM
            body = response.json()
            assert body["status"] == 404
            assert body["title"] == "Not Found"
            assert "detail" in body
            assert "type" in body


async def test_bad_parameters_are_400_problems_naming_the_parameter(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    async with running(make_app()) as client:
        response = await client.get("/streams", params={"limit": 0})
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["type"] == "urn:factstream:problem:validation"
        assert problem["errors"][0]["key"] == "limit"
        assert (await client.get("/events/abc")).status_code == 404  # no such route
        assert (await client.get("/streams/" + "x" * 300)).status_code == 400  # InvalidEvent
        assert (await client.delete("/streams")).status_code == 405


async def test_every_backend_lists_streams_and_finds_events_by_id() -> None:
    memory = await fs.connect("memory://")
    placed = fs.NewEvent("Placed", {})
    await memory.append("order-1", [placed])
    app = create_app(HttpSettings(), memory)
    async with running(app) as client:
        listed = (await client.get("/streams")).json()
        assert [s["stream_id"] for s in listed["streams"]] == ["order-1"]
        assert (await client.get(f"/events/by-id/{placed.id}")).json()["type"] == "Placed"
        info = (await client.get("/info")).json()
        assert info["features"]["streams"] is True
    await memory.close()


async def test_related_events_are_found_however_far_apart(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    placed = fs.NewEvent("Placed", {}, correlation_id="req-9")
    await store.append("order-1", [placed])
    await store.append("noise", [fs.NewEvent("Other", {"n": n}) for n in range(1500)])
    caused = [
        fs.NewEvent("Reserved", {"n": n}, correlation_id="req-9", causation_id=str(placed.id))
        for n in range(3)
    ]
    result = await store.append("stock-1", caused)
    async with running(make_app(HttpSettings(related_limit=2))) as client:
        related = (await client.get("/events/1/related")).json()
        assert [e["data"]["n"] for e in related["caused"]] == [0, 1]
        assert [e["data"]["n"] for e in related["correlated"]] == [0, 1]
        assert related["more_caused"] is True
        assert related["more_correlated"] is True
        assert related["limit"] == 2
        back = (await client.get(f"/events/{result.position}/related")).json()
        assert back["caused_by"]["id"] == str(placed.id)
        assert back["more_caused"] is False
        assert [e["data"]["n"] for e in back["same_cause"]] == [0, 1]  # the same command's
        assert back["more_same_cause"] is False
        assert related["same_cause"] == []  # no causation id
        assert [e["type"] for e in back["correlated"]] == ["Placed", "Reserved"]
        assert back["correlated"][1]["position"] != result.position


async def test_settings_refuse_lookups_beyond_the_store_limits() -> None:
    with pytest.raises(ValueError, match="max_page"):
        HttpSettings(max_page=10_001)
    with pytest.raises(ValueError, match="related_limit"):
        HttpSettings(related_limit=0)
    with pytest.raises(ValueError, match="related_limit"):
        HttpSettings(related_limit=1001)


async def test_info_reports_the_head_and_features(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    await _fill(store)
    async with running(make_app()) as client:
        info = (await client.get("/info")).json()
        assert info["head_position"] == 11
        assert info["features"]["streams"] is True
        assert info["features"]["token_required"] is False
        document = (await client.get("/schema/openapi.json")).json()
        assert "/streams" in document["paths"]
        assert "/counters/{counter_id}/increment" in document["paths"]
