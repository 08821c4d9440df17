"""Medians, the side-by-side table (Markdown) and the JSON record."""

from __future__ import annotations

import statistics
from typing import Any

from .processes import PROCESS_COUNTS
from .runner import Outcome

Result = dict[str, Any]

TITLES = {
    "a": "(a) 1 event per append, 1 stream, sequential",
    "b": "(b) 100 events per append, sequential",
    "d": "(d) new streams, 1 event each: 100 tasks (fs) vs sequential saves (es)",
    "e": "(e) read the whole log (100k), data decoded",
    "r": "(r) replay an aggregate of 10,000 events (typed, applied)",
    "c": "(c) commands load -> decide -> save, sequential",
    "c100": "(c100) the same commands from 100 concurrent tasks (factstream only)",
    "pc": "(pc) projection catch-up into an indexed table + checkpoint",
}
#: The issues' floors for factstream / eventsourcing (issue 2: SQLite, issue 3: PostgreSQL).
FLOORS = {
    "sqlite": {"a": 1.5, "b": 2.5, "d": 8.0, "e": 2.5, "r": 2.0, "c": 3.0},
    "postgres": {"a": 3.0, "b": 2.5, "d": 15.0, "e": 2.0, "r": 2.0, "c": 3.0},
    "memory": {},
}
RAW = {
    "sqlite": {
        "a": "sqlite3, 1 row/txn",
        "b": "sqlite3 executemany, 100 rows/txn",
        "e": "sqlite3 SELECT + msgspec decode",
    },
    "postgres": {
        "a": "asyncpg, 1 row/txn",
        "b": "asyncpg INSERT..unnest, 100 rows/txn",
        "e": "asyncpg SELECT + msgspec decode",
    },
}


def median_of(samples: list[Result], key: str) -> float | None:
    values = [s[key] for s in samples if key in s]
    return statistics.median(values) if values else None


def summarize(outcome: Outcome, backend: str) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for scenario, by_side in outcome.samples.items():
        entry: dict[str, Any] = {}
        for side, samples in by_side.items():
            keys = sorted({k for s in samples for k, v in s.items() if isinstance(v, int | float)})
            entry[side] = {
                "runs": len(samples),
                **{k: median_of(samples, k) for k in keys},
                **{
                    f"{k}_range": [min(s[k] for s in samples), max(s[k] for s in samples)]
                    for k in keys
                    if k.endswith(("per_s", "_ms"))
                },
            }
        fs = entry.get("factstream", {}).get("events_per_s")
        es = entry.get("eventsourcing", {}).get("events_per_s")
        if fs and es:
            entry["ratio"] = fs / es
            entry["floor"] = FLOORS[backend].get(scenario)
            # Runs are interleaved, so each run's two sides met the same disk and neighbours:
            # the median of the per-run ratios is the sturdier figure on a noisy machine.
            pairs = zip(by_side["factstream"], by_side["eventsourcing"], strict=False)
            entry["paired_ratio"] = statistics.median(
                f["events_per_s"] / e["events_per_s"] for f, e in pairs
            )
        raw = entry.get("raw", {}).get("events_per_s")
        floor = FLOORS[backend].get(scenario)
        if es and raw and floor:
            # What the floor asks for, as a share of the raw driver's rate in the same run.
            entry["floor_share_of_raw"] = floor * es / raw
        if fs and raw:
            entry["share_of_raw"] = fs / raw
            pairs = zip(by_side["factstream"], by_side["raw"], strict=False)
            entry["paired_share_of_raw"] = statistics.median(
                f["events_per_s"] / r["events_per_s"] for f, r in pairs
            )
        for key in RAW_REFERENCES:
            other = entry.get("raw", {}).get(key)
            if fs and other:
                pairs = zip(by_side["factstream"], by_side["raw"], strict=False)
                entry[f"share_of_raw_{key}"] = fs / other
                entry[f"paired_share_of_raw_{key}"] = statistics.median(
                    f["events_per_s"] / r[key] for f, r in pairs if key in r
                )
        summary[scenario] = entry
    return summary


def _rate(value: float | None) -> str:
    return f"{value:,.0f}/s" if value else "n/a"


def table(summary: dict[str, Any], backend: str, es_version: str) -> str:
    lines = [
        f"| scenario ({backend}) | factstream | eventsourcing {es_version} "
        "| ratio (paired) | floor "
        "| raw driver (ceiling) | factstream / raw | floor / raw |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario, title in TITLES.items():
        entry = summary.get(scenario)
        if not entry:
            continue
        fs = entry.get("factstream", {}).get("events_per_s")
        es = entry.get("eventsourcing", {}).get("events_per_s")
        raw = entry.get("raw", {}).get("events_per_s")
        ratio = entry.get("ratio")
        paired = entry.get("paired_ratio")
        floor = entry.get("floor")
        verdict = "" if ratio is None or floor is None else (" ok" if ratio >= floor else " MISS")
        raw_label = RAW.get(backend, {}).get(scenario)
        share = entry.get("share_of_raw")
        needed = entry.get("floor_share_of_raw")
        lines.append(
            f"| {title} | {_rate(fs)} | {_rate(es)} "
            f"| {f'{ratio:.2f}x ({paired:.2f}x)' if ratio and paired else 'n/a'}{verdict} "
            f"| {f'{floor:g}x' if floor else '-'} "
            f"| {f'{_rate(raw)} ({raw_label})' if raw and raw_label else '-'} "
            f"| {f'{share:.0%}' if share else '-'} "
            f"| {f'{needed:.0%}' if needed else '-'} |"
        )
    for variant, label in (("f-same", "same process"), ("f-cross", "across processes")):
        fs = summary.get(variant, {}).get("factstream")
        if fs:
            lines.append(
                f"| (f) latency append -> delivery, {label}, at {fs['rate']:,.0f} events/s "
                f"| p50 {fs['p50_ms']:.2f} ms, p99 {fs['p99_ms']:.2f} ms | no async subscription "
                "| - | - | - | - | - |"
            )
    lines += read_side_lines(summary)
    g = summary.get("g", {}).get("factstream")
    if g:
        lines.append(
            f"| (g) slow subscriber catching up on {g['delivered']:,.0f} events "
            f"| RSS {g['rss_before_kb'] / 1024:,.0f} MiB before, peak "
            f"{g['rss_peak_kb'] / 1024:,.0f} MiB, {g['rss_after_kb'] / 1024:,.0f} MiB after; "
            f"store {g['store_bytes'] / 2**20:,.0f} MiB | - | - | - | - | - | - |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""  # only (h): its own table


def _h(summary: dict[str, Any], mode: str, count: int, side: str) -> float | None:
    value = summary.get(f"h-{mode}-{count}", {}).get(side, {}).get("events_per_s")
    return float(value) if value else None


def _scaled(value: float | None, one: float | None) -> str:
    if not value:
        return "n/a"
    return f"{value:,.0f}/s" + (f" ({value / one:.2f}x)" if one else "")


def processes_table(summary: dict[str, Any]) -> str:
    """(h): total events/s from 1, 2 and 4 writer processes; in brackets, against 1 process."""
    if not any(f"h-{mode}-1" in summary for mode in ("seq", "tasks")):
        return ""
    lines = [
        "| (h) processes appending at once, 1 event per append to new streams "
        "| factstream sequential | eventsourcing sequential | ratio (paired) "
        "| factstream 100 tasks per process |",
        "|---|---:|---:|---:|---:|",
    ]
    for count in PROCESS_COUNTS:
        cells = [
            _scaled(_h(summary, mode, count, side), _h(summary, mode, 1, side))
            for mode, side in (("seq", "factstream"), ("seq", "eventsourcing"))
        ]
        tasks = _scaled(
            _h(summary, "tasks", count, "factstream"), _h(summary, "tasks", 1, "factstream")
        )
        entry = summary.get(f"h-seq-{count}", {})
        ratio, paired = entry.get("ratio"), entry.get("paired_ratio")
        lines.append(
            f"| {count} process{'es' if count > 1 else ''} | {cells[0]} | {cells[1]} "
            f"| {f'{ratio:.2f}x ({paired:.2f}x)' if ratio and paired else 'n/a'} | {tasks} |"
        )
    return "\n".join(lines)


def read_side_lines(summary: dict[str, Any]) -> list[str]:
    """The projection scenarios measured by factstream alone: (pl), (pm), (pw)."""
    lines = []
    lag = summary.get("pl", {}).get("factstream")
    if lag:
        theirs = summary.get("pl", {}).get("eventsourcing")
        es = (
            f"p50 {theirs['p50_ms']:.2f} ms, p99 {theirs['p99_ms']:.2f} ms "
            f"at {theirs['rate']:,.0f} events/s"
            if theirs
            else "-"
        )
        lines.append(
            f"| (pl) projection live lag, append -> in the read model, at {lag['rate']:,.0f} "
            f"events/s | p50 {lag['p50_ms']:.2f} ms, p99 {lag['p99_ms']:.2f} ms | {es} "
            "| - | - | - | - | - |"
        )
    rss = summary.get("pm", {}).get("factstream")
    if rss:
        lines.append(
            f"| (pm) projection catching up on {rss['delivered']:,.0f} events "
            f"| RSS {rss['rss_before_kb'] / 1024:,.0f} MiB before, peak "
            f"{rss['rss_peak_kb'] / 1024:,.0f} MiB; {rss['events_per_s']:,.0f} events/s "
            "| - | - | - | - | - | - |"
        )
    workers = [
        summary[key]["factstream"]
        for key in sorted(summary)
        if key.startswith("pw-") and "factstream" in summary[key]
    ]
    if workers:
        figures = ", ".join(
            f"{w['workers']:.0f}: {w['seconds']:.1f} s ({w['events_per_s']:,.0f}/s)"
            for w in workers
        )
        lines.append(
            f"| (pw) partitioned worker processes, 8 partitions, time to the head | {figures} "
            "| - | - | - | - | - | - |"
        )
    return lines


def spread(summary: dict[str, Any]) -> str:
    """Min-max of each side's runs, to show the noise behind the medians."""
    lines = ["| scenario | side | runs | median | min - max |", "|---|---|---:|---:|---:|"]
    h_variants = [f"h-{mode}-{count}" for mode in ("seq", "tasks") for count in PROCESS_COUNTS]
    streaming = [f"{s}-{kind}" for kind in ("nats", "redis") for s in ("sr", "sg", "sl", "sm")]
    for scenario in (*TITLES, "f-same", "f-cross", "pl", *h_variants, *streaming):
        for side, entry in summary.get(scenario, {}).items():
            if not isinstance(entry, dict):
                continue
            key = "p99_ms" if scenario.startswith(("f", "pl", "sl")) else "events_per_s"
            low_high = entry.get(f"{key}_range")
            if not low_high:
                continue
            unit = " ms (p99)" if key == "p99_ms" else "/s"
            lines.append(
                f"| {scenario} | {side} | {entry['runs']} | {entry[key]:,.2f}{unit} "
                f"| {low_high[0]:,.2f} - {low_high[1]:,.2f} |"
            )
            extra = [k for k in entry if k.endswith("_events_per_s") and k != "events_per_s"]
            for k in extra:
                lines.append(
                    f"| {scenario} | {side}: {k} | {entry['runs']} | {entry[k]:,.0f}/s | |"
                )
    return "\n".join(lines)


def commit_latency(summary: dict[str, Any]) -> str:
    """(a) per append: the median is the usual cost, the tail is mostly the disk's."""
    entry = summary.get("a", {})
    rows = [
        f"| {side} | {entry[side]['p50_us']:,.0f} | {entry[side]['p90_us']:,.0f} "
        f"| {entry[side]['p99_us']:,.0f} |"
        for side in ("factstream", "eventsourcing", "raw")
        if isinstance(entry.get(side), dict) and entry[side].get("p50_us")
    ]
    if not rows:
        return ""
    head = [
        "| (a) one append, µs (median over runs) | p50 | p90 | p99 |",
        "|---|---:|---:|---:|",
    ]
    return "\n".join(head + rows)


STREAMING_TITLES = {
    "sr": "relay throughput (store -> broker, acknowledged)",
    "sg": "consumer group throughput (1 member, 8 partitions)",
}
#: Second references some raw sides measure besides ``events_per_s`` (a ratio each).
RAW_REFERENCES = ("per_key_events_per_s",)
RAW_STREAMING = {
    ("sr", "nats"): "nats-py publish_async + Nats-Msg-Id, <=1024 pending",
    ("sr", "redis"): "redis.asyncio XADD pipelined by 100",
    ("sg", "nats"): "nats-py pull fetch 256 + ack each",
    ("sg", "redis"): "redis.asyncio XREADGROUP 100 on the 8 keys in one call + XACK",
}
RAW_STREAMING_EXTRA = {
    ("sg", "redis", "per_key_events_per_s"): (
        "redis.asyncio XREADGROUP 100 one key per call + pipelined XACK: measured-limits form"
    ),
}


def streaming_table(summary: dict[str, Any]) -> str:
    """The streaming scenarios, one row per scenario and broker."""
    lines = [
        "| streaming scenario | broker | factstream | raw client, same run "
        "| factstream / raw (paired) |",
        "|---|---|---:|---:|---:|",
    ]
    for kind in ("nats", "redis"):
        for scenario, title in STREAMING_TITLES.items():
            entry = summary.get(f"{scenario}-{kind}")
            if not entry:
                continue
            fs = entry.get("factstream", {}).get("events_per_s")
            raw = entry.get("raw", {}).get("events_per_s")
            share = entry.get("share_of_raw")
            paired = entry.get("paired_share_of_raw")
            label = RAW_STREAMING[(scenario, kind)]
            lines.append(
                f"| {title} | {kind} | {_rate(fs)} "
                f"| {f'{_rate(raw)} ({label})' if raw else '-'} "
                f"| {f'{share:.0%} ({paired:.0%})' if share and paired else '-'} |"
            )
            for key in RAW_REFERENCES:
                other = entry.get("raw", {}).get(key)
                extra = RAW_STREAMING_EXTRA.get((scenario, kind, key))
                share = entry.get(f"share_of_raw_{key}")
                paired = entry.get(f"paired_share_of_raw_{key}")
                if other and extra and share and paired:
                    lines.append(
                        f"| {title} | {kind} | {_rate(fs)} | {_rate(other)} ({extra}) "
                        f"| {share:.0%} ({paired:.0%}) |"
                    )
        sl = summary.get(f"sl-{kind}", {}).get("factstream")
        if sl:
            lines.append(
                f"| latency append -> consumer (other process), at {sl['rate']:,.0f} events/s "
                f"| {kind} | p50 {sl['p50_ms']:.2f} ms, p99 {sl['p99_ms']:.2f} ms | - | - |"
            )
        sm = summary.get(f"sm-{kind}", {}).get("factstream")
        if sm:
            lines.append(
                f"| slow consumer ({sm['events']:,.0f} events at {sm['events_per_s']:,.0f}/s): "
                f"peak RSS | {kind} | consumer {sm['consumer_rss_before_kb'] / 1024:,.0f} -> "
                f"{sm['consumer_rss_peak_kb'] / 1024:,.0f} MiB, relay "
                f"{sm['relay_rss_peak_kb'] / 1024:,.0f} MiB | - | - |"
            )
        ss = summary.get(f"ss-{kind}", {}).get("factstream")
        if ss:
            rates = ", ".join(
                f"{key.removeprefix('members').removesuffix('_events_per_s')}: {value:,.0f}/s"
                for key, value in ss.items()
                if key.startswith("members") and key.endswith("_events_per_s")
            )
            lines.append(f"| scaling (member processes: events/s) | {kind} | {rates} | - | - |")
    return "\n".join(lines) if len(lines) > 2 else ""
