from __future__ import annotations

import asyncio
import pathlib

import pytest
from prometheus_client.parser import text_string_to_metric_families

import factstream as fs
from factstream.observability import InstrumentedEventStore, Metrics
from factstream.observability.names import catalogue_markdown

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_appends_reads_and_errors_are_counted(tmp_path: pathlib.Path) -> None:
    metrics = Metrics()
    inner = await fs.connect(f"sqlite:///{tmp_path}/m.db")
    async with InstrumentedEventStore(inner, metrics) as store:
        await store.append("s", [fs.NewEvent("T", {}), fs.NewEvent("T", {})])
        await store.append("s", [fs.NewEvent("T", {})], expected_version=2)
        with pytest.raises(fs.WrongExpectedVersion):
            await store.append("s", [fs.NewEvent("T", {})], expected_version=0)
        await asyncio.gather(*(store.append(f"g{n}", [fs.NewEvent("T", {})]) for n in range(50)))
        assert len(await store.read("s")) == 3
    samples = _samples(metrics)
    assert samples[("factstream_events_appended_total", (("backend", "sqlite"),))] == 53
    errors = (
        "factstream_append_errors_total",
        (("backend", "sqlite"), ("error", "WrongExpectedVersion")),
    )
    assert samples[errors] == 1
    ok_count = (
        "factstream_append_duration_seconds_count",
        (("backend", "sqlite"), ("outcome", "ok")),
    )
    assert samples[ok_count] == 52
    reads = ("factstream_read_duration_seconds_count", (("backend", "sqlite"), ("kind", "stream")))
    assert samples[reads] == 1
    assert samples[("factstream_head_position", (("backend", "sqlite"),))] == 53
    commits = samples[("factstream_group_commits_total", (("backend", "sqlite"),))]
    appends = samples[("factstream_group_commit_appends_total", (("backend", "sqlite"),))]
    assert appends == 53  # every append, the refused one included, was decided in a commit
    assert commits < appends  # the 50 concurrent ones shared transactions


async def test_two_metrics_objects_do_not_share_series() -> None:
    first, second = Metrics(), Metrics()
    async with InstrumentedEventStore(await fs.connect("memory://"), first) as store:
        await store.append("s", [fs.NewEvent("T", {})])
    assert _samples(first)[("factstream_events_appended_total", (("backend", "memory"),))] == 1
    assert ("factstream_events_appended_total", (("backend", "memory"),)) not in _samples(second)


async def test_the_instrumented_store_passes_everything_through() -> None:
    async with InstrumentedEventStore(await fs.connect("memory://"), Metrics()) as store:
        result = await store.append("s", [fs.NewEvent("T", {"x": 1})])
        assert await store.stream_version("s") == 1
        assert await store.head_position() == result.position
        assert [e.data async for e in store.read_all()] == [{"x": 1}]
        async with store.subscribe() as subscription:
            async for event in subscription:
                assert event.position == result.position
                break
        # The lookups of the port pass through too, and so does whether it is closed.
        [info] = await store.list_streams()
        assert (info.stream_id, info.last_position) == ("s", result.position)
        [event] = await store.read("s")
        assert await store.event_at(result.position) == event
        assert await store.event_by_id(event.id) == event
        assert await store.events_by_correlation("none") == []
        assert await store.events_by_causation("none") == []
        assert not store.closed
    assert store.closed


def test_the_telemetry_catalogue_in_docs_is_current() -> None:
    # The catalogue opens the page (regenerate it with python -c "from factstream.observability.
    # names import catalogue_markdown as c; print(c())"); hand-written sections follow it.
    text = (ROOT / "docs" / "telemetry.md").read_text(encoding="utf-8")
    assert text.startswith(catalogue_markdown() + "\n## ")
