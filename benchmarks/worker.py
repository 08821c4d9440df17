"""One measurement in a fresh process: ``python -m benchmarks.worker JOB_JSON``.

Every measurement runs in its own interpreter, so no side inherits the other's threads,
connections, caches or heap. The result is the last line of stdout, as JSON.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

from .sizes import Sizes
from .targets import Target

Result = dict[str, Any]


def run(job: dict[str, Any]) -> Result:
    action: str = job["action"]
    side: str = job["side"]
    scenario: str = job.get("scenario", "")
    target = Target.from_json(job["target"])
    sizes = Sizes.from_json(job["sizes"])
    prepared = bool(job.get("prepared", False))

    if scenario in ("pc", "pl", "pm", "pw"):
        return _read_side(job, side, scenario, target, sizes)
    if scenario.startswith("h-"):  # either side: it starts the writer processes itself
        from . import processes

        return processes.measure(side, scenario, target, sizes)
    if scenario[:3] in ("sr-", "sg-", "sl-", "sm-", "ss-"):
        from . import streaming

        return streaming.measure(scenario, side, target, sizes, job.get("broker_urls", {}))

    if side == "factstream":
        if scenario == "g":
            from . import catchup

            return (
                catchup.write(target, sizes)
                if action == "write"
                else catchup.measure(target, sizes)
            )
        if scenario in ("r", "c", "c100"):
            from . import write_fs

            return write_fs.measure(scenario, target, sizes)
        if scenario.startswith("f-"):
            from . import latency

            return latency.measure(scenario[2:], target, sizes)
        from . import fs_side

        if action == "probe":
            return fs_side.probe(target)
        if action == "prepare":
            return fs_side.prepare(target, sizes)
        return fs_side.measure(scenario, target, sizes, prepared)

    if side == "eventsourcing":
        if scenario in ("r", "c"):
            from . import write_es

            return write_es.measure(scenario, target, sizes)
        from . import es_side

        if action == "probe":
            return es_side.probe(target)
        if action == "prepare":
            return es_side.prepare(target, sizes)
        return es_side.measure(scenario, target, sizes, prepared)

    if side == "raw":
        if target.backend == "sqlite":
            from . import raw_sqlite as raw
        else:
            from . import raw_postgres as raw  # type: ignore[no-redef]
        if action == "prepare":
            return raw.prepare(target, sizes)
        return raw.measure(scenario, target, sizes, prepared)

    raise ValueError(f"unknown side {side!r}")


def _read_side(
    job: dict[str, Any], side: str, scenario: str, target: Target, sizes: Sizes
) -> Result:
    """The projection scenarios (``projections_fs``, ``projections_es``)."""
    action: str = job["action"]
    events = int(job.get("events") or sizes.projection_events)
    if side == "factstream":
        from . import projections_fs

        if action in ("prepare", "write"):
            return projections_fs.write(target, events)
        return projections_fs.measure(scenario, target, sizes, int(job.get("workers", 1)))
    if side == "eventsourcing" and scenario in ("pc", "pl"):
        from . import projections_es

        if action in ("prepare", "write"):
            return projections_es.write(target, events)
        if scenario == "pl":
            return projections_es.lag(target, sizes)
        return projections_es.measure(target, sizes)
    raise ValueError(f"no {side} side for scenario {scenario!r}")


def main() -> int:
    job = json.loads(sys.argv[1])
    try:
        result = run(job)
    except Exception as exc:
        traceback.print_exc()
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
