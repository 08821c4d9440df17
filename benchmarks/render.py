"""Print the Markdown tables of a ``--json`` record: ``python -m benchmarks.render FILE...``.

``docs/benchmarks.md`` is written from these, so its tables can be regenerated from the record.
"""

from __future__ import annotations

import json
import sys

from . import report


def _load(env: dict[str, object], when: str) -> str:
    value = env.get(f"loadavg_at_{when}")
    return f"{value[0]:.2f}" if isinstance(value, list) else "not recorded"


def render(path: str) -> str:
    with open(path, encoding="utf-8") as source:
        record = json.load(source)
    env = record["environment"]
    lines = [
        f"`{record['command']}` ({record['runs']} interleaved runs, {record['seconds']:.0f} s; "
        f"load average {_load(env, 'start')} at the start, {_load(env, 'end')} at the end)",
        "",
        report.table(record["summary"], record["backend"], env["eventsourcing"]),
        "",
        report.spread(record["summary"]),
        "",
        report.commit_latency(record["summary"]),
    ]
    lines += [f"\nnote: {note}" for note in record.get("notes", [])]
    return "\n".join(lines)


if __name__ == "__main__":
    print("\n\n".join(render(path) for path in sys.argv[1:]))
