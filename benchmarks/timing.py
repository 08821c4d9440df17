"""Per-operation latencies from a list of ``perf_counter`` stamps (one before the first op,
one after each): the median shows the usual cost of one commit even when a few fsyncs of a
shared disk stall for milliseconds and drag the events/s figure down."""

from __future__ import annotations

import itertools


def latency_summary(stamps: list[float]) -> dict[str, float]:
    gaps = sorted(b - a for a, b in itertools.pairwise(stamps))
    if not gaps:
        return {}
    n = len(gaps)
    return {
        "p50_us": gaps[n // 2] * 1e6,
        "p90_us": gaps[min(n - 1, int(0.9 * n))] * 1e6,
        "p99_us": gaps[min(n - 1, int(0.99 * n))] * 1e6,
    }
