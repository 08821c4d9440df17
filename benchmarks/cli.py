"""``python -m benchmarks``: factstream side by side with eventsourcing.

Examples::

    python -m benchmarks --backend sqlite --runs 5 --json bench-sqlite.json
    python -m benchmarks --backend postgres --scenarios a,b,d,e --quick
    python -m benchmarks --scenarios sr,sg,sl,sm,ss --brokers nats,redis --runs 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

from . import report
from .runner import SCENARIOS, STORE_SCENARIOS, STREAMING_SCENARIOS, Runner
from .sizes import FULL, QUICK
from .targets import BACKENDS, DEFAULT_PG_URL, TargetFactory


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--backend", choices=BACKENDS, default="sqlite")
    parser.add_argument(
        "--scenarios",
        default=",".join(STORE_SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)} (default: the store's, "
        f"{','.join(STORE_SCENARIOS)}; the streaming ones need the brokers)",
    )
    parser.add_argument(
        "--brokers",
        default="nats,redis",
        help="brokers of the streaming scenarios (default nats,redis)",
    )
    parser.add_argument(
        "--stream-events",
        type=int,
        help="events of the streaming scenarios sr, sg, sm, ss (default 20,000, quick 10,000)",
    )
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--runs", type=int, help="interleaved runs per scenario (default 5, quick 3)"
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer runs (~1-3 min)")
    parser.add_argument("--json", metavar="FILE", help="also write every sample and the summary")
    parser.add_argument(
        "--pg-url", default=DEFAULT_PG_URL, help=f"PostgreSQL server (default {DEFAULT_PG_URL})"
    )
    parser.add_argument(
        "--scratch", default=None, help="folder for SQLite files (default: a new temp folder)"
    )
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {','.join(SCENARIOS)}")
    args.scenarios = [s for s in SCENARIOS if s in chosen]
    kinds = [b.strip() for b in args.brokers.split(",") if b.strip()]
    if unknown_brokers := sorted(set(kinds) - {"nats", "redis"}):
        parser.error(f"unknown brokers {unknown_brokers}; choose from nats,redis")
    urls = {"nats": args.nats_url, "redis": args.redis_url}
    args.broker_urls = {kind: urls[kind] for kind in kinds}
    if args.runs is None:
        args.runs = 3 if args.quick else 5
    return args


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(
            ["git", "-C", here, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def _pg_version(url: str) -> str:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "unknown"
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 2):
            return True
    except OSError:
        return False


def environment(args: argparse.Namespace) -> dict[str, Any]:
    import factstream

    env: dict[str, Any] = {
        "cpu": _cpu(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "factstream": f"{factstream.__version__} ({factstream.__file__})",
        "commit": _git_commit(),
        "eventsourcing": _version("eventsourcing"),
        "msgspec": _version("msgspec"),
        "asyncpg": _version("asyncpg"),
        "psycopg": _version("psycopg"),
    }
    if set(args.scenarios) & set(STREAMING_SCENARIOS):
        env.update(
            {name: _version(name) for name in ("nats-py", "redis", "hiredis")},
            brokers=args.broker_urls,
        )
    if args.backend == "postgres":
        env["postgresql"] = _pg_version(args.pg_url)
        try:
            import psycopg

            env["psycopg"] += f" ({psycopg.pq.__impl__} libpq wrapper)"
        except ImportError:
            pass
    return env


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sizes = QUICK if args.quick else FULL
    if args.stream_events is not None:
        if args.stream_events < 1:
            raise SystemExit("--stream-events must be >= 1")
        sizes = dataclasses.replace(
            sizes, stream_events=args.stream_events, stream_slow_events=args.stream_events
        )
    command = "python -m benchmarks " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    env = environment(args)
    env["loadavg_at_start"] = os.getloadavg()
    if env["loadavg_at_start"][0] > 0.5:
        print(
            f"warning: load average {env['loadavg_at_start'][0]:.2f} before starting: other work "
            "on this machine will show up in the figures (fsync-bound ones most)",
            flush=True,
        )
    print(f"{command}\n" + "\n".join(f"  {k}: {v}" for k, v in env.items()), flush=True)
    scratch = args.scratch or tempfile.mkdtemp(prefix="factstream-bench-")
    os.makedirs(scratch, exist_ok=True)
    factory = TargetFactory(args.backend, scratch, args.pg_url, own_scratch=args.scratch is None)
    brokers = {}
    if set(args.scenarios) & set(STREAMING_SCENARIOS):
        for kind, url in args.broker_urls.items():
            if _reachable(url):
                brokers[kind] = url
            else:
                print(f"note: {kind} at {url} is not reachable: its streaming figures are skipped")
    started = time.perf_counter()
    try:
        outcome = Runner(args.backend, args.scenarios, args.runs, sizes, factory, brokers).run()
    finally:
        factory.drop_all()
    elapsed = time.perf_counter() - started
    env["loadavg_at_end"] = os.getloadavg()
    summary = report.summarize(outcome, args.backend)
    print(f"\nmedians of {args.runs} interleaved runs, {elapsed:.0f} s in all\n")
    for part in (
        report.table(summary, args.backend, env["eventsourcing"]),
        report.processes_table(summary),
    ):
        if part:
            print(part, end="\n\n")
    print(report.spread(summary))
    print()
    print(report.commit_latency(summary))
    streaming = report.streaming_table(summary)
    if streaming:
        print()
        print(streaming)
    for note in outcome.notes:
        print(f"note: {note}")
    if args.json:
        record = {
            "command": command,
            "backend": args.backend,
            "runs": args.runs,
            "quick": args.quick,
            "seconds": elapsed,
            "environment": env,
            "sizes": sizes.to_json(),
            "summary": summary,
            "samples": outcome.samples,
            "notes": outcome.notes,
        }
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(record, out, indent=2, default=str)
        print(f"wrote {args.json}")
    return 0
