"""Print the Markdown tables of ``--json`` records.

``python -m benchmarks.render FILE...`` prints each record's tables;
``python -m benchmarks.render --pool FILE...`` pools the runs of several records of the same
backend (the medians and paired ratios are then taken over all their runs).
``docs/benchmarks.md`` is written from these, so its tables can be regenerated.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from typing import Any

from . import report
from .runner import Outcome


def _load(env: dict[str, object], when: str) -> str:
    value = env.get(f"loadavg_at_{when}")
    return f"{value[0]:.2f}" if isinstance(value, list) else "not recorded"


def _read(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as source:
        record: dict[str, Any] = json.load(source)
    return record


def _tables(summary: dict[str, Any], backend: str, es_version: str) -> list[str]:
    latency = report.commit_latency(summary)
    processes = report.processes_table(summary)
    main = report.table(summary, backend, es_version)
    streaming = report.streaming_table(summary)
    return [
        *([main, ""] if main else []),
        *([processes, ""] if processes else []),
        report.spread(summary),
        *(["", latency] if latency else []),
        *(["", streaming] if streaming else []),
    ]


def render(path: str) -> str:
    record = _read(path)
    env = record["environment"]
    lines = [
        f"`{record['command']}` ({record['runs']} interleaved runs, {record['seconds']:.0f} s; "
        f"load average {_load(env, 'start')} at the start, {_load(env, 'end')} at the end)",
        "",
        *_tables(record["summary"], record["backend"], env["eventsourcing"]),
    ]
    lines += [f"\nnote: {note}" for note in record.get("notes", [])]
    return "\n".join(lines)


def pool(paths: list[str]) -> str:
    records = [_read(path) for path in paths]
    backends = {record["backend"] for record in records}
    if len(backends) != 1:
        raise SystemExit(f"cannot pool records of different backends: {sorted(backends)}")
    samples: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        for scenario, by_side in record["samples"].items():
            for side, results in by_side.items():
                samples[scenario][side].extend(results)
    backend = backends.pop()
    summary = report.summarize(Outcome(samples=samples), backend)
    runs = sum(record["runs"] for record in records)
    head = f"Pooled: {runs} runs from {', '.join(paths)}"
    es_version = records[0]["environment"]["eventsourcing"]
    return "\n".join([head, "", *_tables(summary, backend, es_version)])


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--pool":
        print(pool(args[1:]))
    else:
        print("\n\n".join(render(path) for path in args))
