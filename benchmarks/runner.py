"""Runs the plan: interleaved sides, one fresh process and fresh store per measurement."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from . import processes
from .sizes import Sizes
from .targets import Target, TargetFactory

Result = dict[str, Any]

#: The store's scenarios (issues 2-4): what a plain run measures.
STORE_SCENARIOS = ("a", "b", "d", "e", "f", "g", "r", "c", "c100")
#: Projections (issue 5) and processes sharing a store (issue 3's h): asked for by name.
READ_SCENARIOS = ("pc", "pl", "pm", "pw")
PROCESS_SCENARIOS = ("h",)
#: Streaming (relay, consumer groups) against each broker of ``--brokers``: see streaming.py.
STREAMING_SCENARIOS = ("sr", "sg", "sl", "sm", "ss")
SCENARIOS = STORE_SCENARIOS + READ_SCENARIOS + PROCESS_SCENARIOS + STREAMING_SCENARIOS
#: Scenarios whose log is written once per side and read by every run.
PREPARED = ("e", "pc")
#: Scenarios measured once per invocation (long; their figure is a bound or a scaling).
ONCE = ("g", "pm", "pw")
#: (pw): how many partitioned worker processes share the projection, one measurement each.
WORKER_COUNTS = (1, 2, 4)
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TIMEOUT = 1_800


def sides_for(scenario: str, backend: str) -> list[str]:
    if scenario in STREAMING_SCENARIOS:
        # Members run in processes of their own: a memory store cannot be shared.
        return (
            []
            if backend == "memory"
            else ["factstream", *(["raw"] if scenario in ("sr", "sg") else [])]
        )
    if scenario.startswith("p"):
        if backend == "memory":
            return []  # a read model needs a database; the log must outlive the process
        if scenario in ("pc", "pl") and backend == "postgres":
            return ["factstream", "eventsourcing"]  # its ProjectionRunner needs PostgreSQL
        return ["factstream"]
    raw = [] if backend == "memory" else ["raw"]
    if scenario in ("a", "b", "e"):
        return ["factstream", "eventsourcing", *raw]
    if scenario in ("d", "r", "c"):
        return ["factstream", "eventsourcing"]
    if scenario == "h":  # processes sharing one store: not the in-process memory store
        return [] if backend == "memory" else ["factstream", "eventsourcing"]
    if scenario in ("f", "c100"):
        return ["factstream"]
    return []


@dataclass
class Outcome:
    samples: dict[str, dict[str, list[Result]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    notes: list[str] = field(default_factory=list)


def run_worker(job: dict[str, Any]) -> Result:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", json.dumps(job)],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    result: Result | None
    try:
        loaded: object = json.loads(lines[-1]) if lines else None
        result = loaded if isinstance(loaded, dict) else None
    except json.JSONDecodeError:
        result = None
    if proc.returncode != 0 or result is None or "error" in result:
        result = result or {}
        detail = result.get("error") or proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": detail if isinstance(detail, str) else detail[0], "stderr": proc.stderr}
    return result


class Runner:
    def __init__(
        self,
        backend: str,
        scenarios: list[str],
        runs: int,
        sizes: Sizes,
        factory: TargetFactory,
        brokers: dict[str, str] | None = None,
    ) -> None:
        self.backend = backend
        #: broker kind -> URL, for the streaming scenarios.
        self.brokers = brokers or {}
        self.scenarios = scenarios
        self.runs = runs
        self.sizes = sizes
        self.factory = factory
        self.outcome = Outcome()
        self.unavailable: set[str] = set()
        self._prepared: dict[tuple[str, str], Target] = {}

    # -- steps ----------------------------------------------------------------------------

    def _job(self, action: str, side: str, scenario: str, target: Target, **extra: Any) -> Result:
        job = {
            "action": action,
            "side": side,
            "scenario": scenario,
            "target": target.to_json(),
            "sizes": self.sizes.to_json(),
            "broker_urls": self.brokers,
            **extra,
        }
        return run_worker(job)

    def note(self, text: str) -> None:
        print(f"note: {text}", flush=True)
        self.outcome.notes.append(text)

    def probe(self) -> None:
        for side in ("factstream", "eventsourcing"):
            target = self.factory.fresh(f"probe_{side}")
            result = self._job("probe", side, "", target)
            self.factory.drop(target)
            if "error" in result:
                self.unavailable.add(side)
                self.note(
                    f"{side} cannot open a {self.backend} store ({result['error']}); "
                    f"its {self.backend} figures are skipped"
                )

    def prepare_reads(self) -> None:
        """Write the logs of (e) and (pc) once per side; the runs only read them."""
        if self.backend == "memory":
            return
        counts = {"e": self.sizes.read_events, "pc": self.sizes.projection_events}
        for scenario in PREPARED:
            if scenario not in self.scenarios:
                continue
            for side in self._available(sides_for(scenario, self.backend)):
                target = self.factory.fresh(f"{scenario}_{side}")
                count = counts[scenario]
                print(f"preparing ({scenario}): {side} writes {count:,} events", flush=True)
                result = self._job("prepare", side, scenario, target)
                if "error" in result:
                    self.note(f"({scenario}) {side}: preparing failed: {result['error']}")
                    continue
                self._prepared[(scenario, side)] = target

    def measure_once(self, scenario: str, side: str, run: int) -> None:
        variants = [scenario]
        if scenario == "f":
            variants = ["f-same"] if self.backend == "memory" else ["f-same", "f-cross"]
        elif scenario == "h":
            variants = processes.variants(side)
        elif scenario in STREAMING_SCENARIOS:
            variants = [f"{scenario}-{kind}" for kind in self.brokers]
        for variant in variants:
            prepared = (variant, side) in self._prepared
            if variant in PREPARED and self.backend != "memory" and not prepared:
                continue  # preparing failed; noted already
            target = (
                self._prepared[(variant, side)]
                if prepared
                else self.factory.fresh(f"{variant}_{side}")
            )
            result = self._job("measure", side, variant, target, prepared=prepared)
            if not prepared:
                self.factory.drop(target)
            self._record(variant, side, run, result)

    def catch_up(self) -> None:
        """(g) and (pm): once per invocation, they are long and their figure is a bound, not
        a rate. They read the same large log (the projection after the subscriber)."""
        wanted = [s for s in ("g", "pm") if s in self.scenarios]
        if self.backend == "memory" and "pm" in wanted:
            wanted.remove("pm")  # a read model needs a database
        if not wanted or "factstream" in self.unavailable:
            return
        target = self.factory.fresh("g_factstream")
        if self.backend != "memory":
            print(f"({'/'.join(wanted)}) writing {self.sizes.catchup_events:,} events", flush=True)
            written = self._job("write", "factstream", "g", target)
            if "error" in written:
                self.note(f"(g) writing failed: {written['error']}")
                return
            self.outcome.samples["g-write"]["factstream"].append(written)
            print(f"(g) written at {written['events_per_s']:,.0f} events/s", flush=True)
        for scenario in wanted:
            result = self._job("measure", "factstream", scenario, target)
            self._record(scenario, "factstream", 0, result)
        self.factory.drop(target)

    def partitioned_workers(self) -> None:
        """(pw): the same log caught up by 1, 2 and 4 worker processes, once each."""
        if "pw" not in self.scenarios or not sides_for("pw", self.backend):
            return
        target = self.factory.fresh("pw_factstream")
        print(f"(pw) writing {self.sizes.projection_events:,} events", flush=True)
        written = self._job("write", "factstream", "pw", target)
        if "error" in written:
            self.note(f"(pw) writing failed: {written['error']}")
        else:
            for count in WORKER_COUNTS:
                result = self._job("measure", "factstream", "pw", target, workers=count)
                self._record(f"pw-{count}", "factstream", 0, result)
        self.factory.drop(target)

    def run(self) -> Outcome:
        self.probe()
        self.prepare_reads()
        timed = [s for s in self.scenarios if s not in ONCE]
        for run in range(self.runs):
            for scenario in timed:
                sides = self._available(sides_for(scenario, self.backend))
                # Rotate the order each run so no side always goes first (or last).
                shift = run % len(sides) if sides else 0
                for side in sides[shift:] + sides[:shift]:
                    self.measure_once(scenario, side, run)
        self.catch_up()
        self.partitioned_workers()
        return self.outcome

    # -- helpers --------------------------------------------------------------------------

    def _available(self, sides: list[str]) -> list[str]:
        return [side for side in sides if side not in self.unavailable]

    def _record(self, scenario: str, side: str, run: int, result: Result) -> None:
        label = f"[run {run + 1}/{self.runs}] ({scenario}) {side}"
        if "error" in result:
            self.note(f"{label}: failed: {result['error']}")
            return
        self.outcome.samples[scenario][side].append(result)
        print(f"{label}: {describe(result)}", flush=True)


def describe(result: Result) -> str:
    if "rss_peak_kb" in result and "store_bytes" in result:
        return (
            f"RSS before {result['rss_before_kb'] / 1024:,.0f} MiB, "
            f"peak {result['rss_peak_kb'] / 1024:,.0f} MiB, "
            f"after {result['rss_after_kb'] / 1024:,.0f} MiB; "
            f"{result['delivered']:,} events in {result['seconds']:.1f} s, "
            f"store {result['store_bytes'] / 2**20:,.0f} MiB"
        )
    if "workers" in result:
        return (
            f"{result['workers']} worker(s): {result['seconds']:.2f} s, "
            f"{result['events_per_s']:,.0f} events/s"
        )
    if "rss_peak_kb" in result and "store_bytes" not in result:
        return (
            f"RSS before {result['rss_before_kb'] / 1024:,.0f} MiB, "
            f"peak {result['rss_peak_kb'] / 1024:,.0f} MiB; "
            f"{result['delivered']:,} events at {result['events_per_s']:,.0f} events/s"
        )
    if "p50_ms" in result:
        return (
            f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
            f"max {result['max_ms']:.1f} ms at {result['rate']:,.0f} events/s"
        )
    extra = "".join(
        f", {key.removesuffix('_events_per_s')} {value:,.0f}/s"
        for key, value in result.items()
        if key.endswith("_events_per_s") and key != "events_per_s"
    )
    return f"{result['events_per_s']:,.0f} events/s{extra}"
