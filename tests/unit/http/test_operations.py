"""Health, metrics, projections and dead letters over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt

from prometheus_client.parser import text_string_to_metric_families

import factstream as fs
from factstream.http import CheckResult, DeadLetter, HttpSettings, create_app
from factstream.observability import InstrumentedEventStore, Metrics

from .conftest import AppFactory
from .support import CounterModel, MemoryDeadLetters, running


class _Check:
    def __init__(self, name: str, result: CheckResult | None, *, hang: bool = False) -> None:
        self.name = name
        self._result = result
        self._hang = hang

    async def check(self) -> CheckResult:
        if self._hang:
            await asyncio.Event().wait()
        if self._result is None:
            raise ConnectionError("secret dsn postgres://user:pw@db")
        return self._result


async def test_liveness_always_passes_and_readiness_runs_the_checks(
    make_app: AppFactory,
) -> None:
    async with running(make_app()) as client:
        live = await client.get("/health/live")
        assert (live.status_code, live.json()) == (200, {"status": "pass"})
        assert live.headers["content-type"].startswith("application/health+json")
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"]["event-store"]["status"] == "pass"


async def test_readiness_fails_on_a_failed_raising_or_hanging_check(
    make_app: AppFactory,
) -> None:
    checks = [
        _Check("runner", CheckResult(healthy=True, observed={"lag": 0})),
        _Check("relay", CheckResult(healthy=False, detail="heartbeat 90 s old")),
        _Check("broker", None),
        _Check("stuck", None, hang=True),
    ]
    app = make_app(HttpSettings(health_timeout=0.05), health_checks=checks)
    async with running(app) as client:
        ready = await client.get("/health/ready")
    assert ready.status_code == 503
    document = ready.json()
    assert document["status"] == "fail"
    assert document["checks"]["runner"] == {"status": "pass", "observed": {"lag": 0}}
    assert document["checks"]["relay"]["detail"] == "heartbeat 90 s old"
    assert document["checks"]["broker"]["detail"] == "the check raised ConnectionError"
    assert "secret" not in ready.text
    assert document["checks"]["stuck"]["detail"].startswith("no answer within")


async def test_metrics_are_served_in_the_prometheus_format(
    store: fs.EventStore, model: CounterModel
) -> None:
    metrics = Metrics()
    instrumented = InstrumentedEventStore(store, metrics)
    app = create_app(HttpSettings(), instrumented, metrics=metrics)
    await instrumented.append("s", [fs.NewEvent("T", {})])
    async with running(app) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert "factstream_events_appended" in names
    assert "factstream_append_duration_seconds" in names


async def test_no_metrics_route_without_metrics(make_app: AppFactory) -> None:
    async with running(make_app()) as client:
        assert (await client.get("/metrics")).status_code == 404


async def test_projections_report_lag_and_its_history(
    store: fs.EventStore, make_app: AppFactory, model: CounterModel
) -> None:
    app = make_app(HttpSettings(lag_sample_interval=0.01), projections=model)
    async with running(app) as client:
        created = await client.post("/counters")
        await model.wait_for(int(created.headers["consistency-token"]), 10)
        model.pause()
        counter_id = created.json()["counter_id"]
        for _ in range(3):
            await client.post(f"/counters/{counter_id}/increment", json={"by": 1})
        report = (await client.get("/projections")).json()
        assert report["configured"] is True
        assert report["head_position"] == 4
        [counters] = report["projections"]
        assert (counters["name"], counters["lag"], counters["state"]) == ("counters", 3, "paused")
        assert counters["heartbeat_age_seconds"] >= 0
        assert counters["history"][-1][1] == 3
        model.resume()
        await model.wait_for(4, 10)
        report = (await client.get("/projections")).json()
        assert report["projections"][0]["lag"] == 0
        lags = [lag for _, lag in report["projections"][0]["history"]]
        assert lags[-1] == 0
        assert 3 in lags


async def test_without_a_source_projections_say_so(make_app: AppFactory) -> None:
    async with running(make_app()) as client:
        report = (await client.get("/projections")).json()
    assert report["configured"] is False
    assert report["projections"] == []


def _letter(letter_id: str, position: int) -> DeadLetter:
    return DeadLetter(
        id=letter_id,
        consumer="counters",
        stream_id="s",
        position=position,
        event_type="T",
        error="ValueError: bad total",
        attempts=3,
        parked_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


async def test_dead_letters_are_listed_shown_retried_and_skipped(
    store: fs.EventStore, make_app: AppFactory
) -> None:
    await store.append("s", [fs.NewEvent("T", {"n": 1}), fs.NewEvent("T", {"n": 2})])
    letters = MemoryDeadLetters([_letter("dl-1", 1), _letter("dl-2", 2), _letter("dl-3", 2)])
    async with running(make_app(dead_letters=letters)) as client:
        page = (await client.get("/dead-letters", params={"limit": 2})).json()
        assert [d["id"] for d in page["dead_letters"]] == ["dl-1", "dl-2"]
        assert page["next_after"] == "dl-2"
        shown = (await client.get("/dead-letters/dl-1")).json()
        assert shown["dead_letter"]["error"] == "ValueError: bad total"
        assert shown["event"]["data"] == {"n": 1}
        retried = await client.post("/dead-letters/dl-1/retry")
        assert retried.json() == {"id": "dl-1", "outcome": "retried"}
        skipped = await client.post("/dead-letters/dl-2/skip")
        assert skipped.json() == {"id": "dl-2", "outcome": "skipped"}
        assert (await client.post("/dead-letters/dl-2/skip")).status_code == 404
        assert (await client.get("/dead-letters/dl-9")).status_code == 404
    assert letters.done == [("retry", "dl-1"), ("skip", "dl-2")]


async def test_without_a_dead_letter_store_actions_are_501(make_app: AppFactory) -> None:
    async with running(make_app()) as client:
        assert (await client.get("/dead-letters")).json()["configured"] is False
        assert (await client.post("/dead-letters/x/retry")).status_code == 501
