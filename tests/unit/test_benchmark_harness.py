"""The benchmark harness's own plumbing: scratch folders and the (h) writer processes."""

from __future__ import annotations

import asyncio
import pathlib

import pytest
from benchmarks import processes, report
from benchmarks.runner import Outcome
from benchmarks.sizes import Sizes
from benchmarks.targets import TargetFactory

import factstream as fs


def _made_files(factory: TargetFactory, label: str) -> pathlib.Path:
    target = factory.fresh(label)
    for path in target.store_files():
        pathlib.Path(path).write_bytes(b"x")
    return pathlib.Path(target.path)


def test_a_scratch_folder_passed_in_is_kept_with_everything_not_made_here(
    tmp_path: pathlib.Path,
) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("not the harness's")
    factory = TargetFactory("sqlite", str(tmp_path))
    made = _made_files(factory, "a")

    factory.drop_all()

    assert not made.exists()
    assert keep.read_text() == "not the harness's"


def test_a_scratch_folder_made_for_the_run_is_removed(tmp_path: pathlib.Path) -> None:
    scratch = tmp_path / "run"
    scratch.mkdir()
    factory = TargetFactory("sqlite", str(scratch), own_scratch=True)
    _made_files(factory, "a")

    factory.drop_all()

    assert not scratch.exists()


def test_h_variants_by_side() -> None:
    assert processes.variants("factstream") == [
        "h-seq-1",
        "h-seq-2",
        "h-seq-4",
        "h-tasks-1",
        "h-tasks-2",
        "h-tasks-4",
    ]
    assert processes.variants("eventsourcing") == ["h-seq-1", "h-seq-2", "h-seq-4"]
    assert processes.parse("h-tasks-4") == ("tasks", 4)
    for bad in ("h-tasks-0", "h-many-2", "h-seq-x", "h-seq"):
        with pytest.raises(ValueError, match="not an \\(h\\) variant"):
            processes.parse(bad)


def test_h_refuses_what_it_cannot_measure(tmp_path: pathlib.Path) -> None:
    target = TargetFactory("sqlite", str(tmp_path)).fresh("h")
    with pytest.raises(ValueError, match="eventsourcing has no \\(h\\) variant 'h-tasks-2'"):
        processes.measure("eventsourcing", "h-tasks-2", target, Sizes())
    with pytest.raises(ValueError, match="at least one task per process, got tasks=0"):
        processes.measure("factstream", "h-tasks-2", target, Sizes(tasks=0))
    with pytest.raises(ValueError, match="no appends per process"):
        processes.measure("factstream", "h-tasks-2", target, Sizes(process_concurrent=3, tasks=4))
    with pytest.raises(ValueError, match="no appends per process"):
        processes.measure("factstream", "h-seq-1", target, Sizes(process_sequential=0))
    assert not pathlib.Path(target.path).exists()  # refused before anything was started


def test_h_writer_processes_append_everything_they_report(tmp_path: pathlib.Path) -> None:
    factory = TargetFactory("sqlite", str(tmp_path))
    target = factory.fresh("h")
    sizes = Sizes(tasks=4, process_concurrent=40, warmup=2)

    result = processes.measure("factstream", "h-tasks-2", target, sizes)

    assert (result["processes"], result["events"]) == (2, 80)
    assert result["events_per_s"] > 0

    async def stored() -> list[str]:
        async with fs.connect(target.factstream_url()) as store:
            return [e.stream_id async for e in store.read_all()]

    streams = asyncio.run(stored())
    appended = [s for s in streams if s.startswith("order-")]
    assert len(appended) == len(set(appended)) == 80  # one new stream per append
    assert len(streams) == 80 + 2 * sizes.warmup
    factory.drop_all()


def test_h_table_shows_totals_scaling_and_paired_ratios() -> None:
    outcome = Outcome()
    rates = {"factstream": (1000.0, 1500.0, 1800.0), "eventsourcing": (500.0, 600.0, 450.0)}
    for run in range(2):
        for side, by_count in rates.items():
            for count, rate in zip(processes.PROCESS_COUNTS, by_count, strict=True):
                outcome.samples[f"h-seq-{count}"][side].append({"events_per_s": rate + run})
        for count in processes.PROCESS_COUNTS:
            outcome.samples[f"h-tasks-{count}"]["factstream"].append(
                {"events_per_s": 5000.0 * count}
            )

    table = report.processes_table(report.summarize(outcome, "postgres"))

    lines = table.splitlines()
    assert len(lines) == 2 + len(processes.PROCESS_COUNTS)
    assert lines[2].startswith("| 1 process | 1,000/s (1.00x) | 500/s (1.00x) | 2.00x")
    assert lines[3].startswith("| 2 processes | 1,500/s (1.50x) | 600/s (1.20x) | 2.50x")
    assert lines[4].endswith("| 20,000/s (4.00x) |")
    assert report.processes_table(report.summarize(Outcome(), "postgres")) == ""


def test_the_streaming_table_shows_both_raw_redis_consume_references_paired() -> None:
    outcome = Outcome()
    for run in range(3):
        outcome.samples["sg-redis"]["factstream"].append({"events_per_s": 30_000.0 + run})
        outcome.samples["sg-redis"]["raw"].append(
            {"events_per_s": 120_000.0, "per_key_events_per_s": 40_000.0 - 10_000 * run}
        )

    lines = report.streaming_table(report.summarize(outcome, "sqlite")).splitlines()

    assert len(lines) == 4
    assert "| 30,001/s | 120,000/s (" in lines[2]
    assert lines[2].endswith("| 25% (25%) |")
    assert "30,001/s | 30,000/s (" in lines[3]
    assert "one key per call" in lines[3]
    # The paired ratio is the median of the runs' own: 30,000/40,000, 30,001/30,000, ...
    assert lines[3].endswith("| 100% (100%) |")


def test_the_main_table_shows_what_share_of_raw_each_floor_asks_for() -> None:
    outcome = Outcome()
    for side, rate in (("factstream", 4_000.0), ("eventsourcing", 3_000.0), ("raw", 5_000.0)):
        outcome.samples["a"][side].append({"events_per_s": rate})
    for side, rate in (("factstream", 300_000.0), ("eventsourcing", 100_000.0)):
        outcome.samples["e"][side].append({"events_per_s": rate})

    summary = report.summarize(outcome, "sqlite")
    lines = report.table(summary, "sqlite", "9.5.6").splitlines()

    # (a): 1.5x eventsourcing is 4,500/s, 90% of the raw driver's 5,000/s; factstream has 80%.
    assert summary["a"]["floor_share_of_raw"] == pytest.approx(0.9)
    assert lines[2].endswith("| 1.5x | 5,000/s (sqlite3, 1 row/txn) | 80% | 90% |")
    assert "MISS" in lines[2]
    # (e) without a raw figure: nothing to compare with.
    assert "floor_share_of_raw" not in summary["e"]
    assert lines[3].endswith("| 2.5x | - | - | - |")
    assert all(line.count("|") == lines[0].count("|") for line in lines)
