"""Raw ``sqlite3``: ``executemany`` against multi-row ``INSERT`` statements, same rows.

Usage: PYTHONPATH=src:. python -m benchmarks.scripts.insert_shapes [BATCHES=300] [RUNS=3]

Writes BATCHES transactions of 100 rows (scenario (b)'s shape) into factstream's events table
(the raw side's DDL and rows, ``benchmarks/raw_sqlite.py``), once with ``executemany`` of the
one-row ``INSERT`` and once with one ``INSERT ... VALUES (...), (...)`` statement per 100 rows,
alternating, in a fresh file each time. Prints rows/s and the µs per row spent in the insert
call (outside BEGIN and COMMIT). This is why the SQLite writer inserts multi-row statements.
"""

from __future__ import annotations

import pathlib
import statistics
import sys
import tempfile
import time
from itertools import chain

from .. import raw_sqlite
from ..targets import Target

_BATCH = 100


def _run(path: pathlib.Path, batches: int, multi: bool) -> tuple[float, float]:
    conn = raw_sqlite._connect(Target(backend="sqlite", path=str(path)), create=True)
    sql = (
        raw_sqlite._INSERT.split(" VALUES ")[0] + " VALUES " + ",".join(["(?,?,?,?,?,?)"] * _BATCH)
    )
    inserting = 0.0
    start = time.perf_counter()
    for i in range(batches):
        base = i * _BATCH
        rows = [
            raw_sqlite._row(base + j + 1, "order-1", base + j + 1, base + j) for j in range(_BATCH)
        ]
        conn.execute("BEGIN IMMEDIATE")
        began = time.perf_counter()
        if multi:
            conn.execute(sql, tuple(chain.from_iterable(rows)))
        else:
            conn.executemany(raw_sqlite._INSERT, rows)
        inserting += time.perf_counter() - began
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return batches * _BATCH / elapsed, inserting / (batches * _BATCH) * 1e6


def main(batches: int = 300, runs: int = 3) -> None:
    results: dict[str, list[tuple[float, float]]] = {"executemany": [], "multi-row": []}
    with tempfile.TemporaryDirectory() as folder:
        for run in range(runs):
            for name in results:
                path = pathlib.Path(folder) / f"{name}-{run}.db"
                results[name].append(_run(path, batches, multi=name == "multi-row"))
    for name, samples in results.items():
        rate = statistics.median(s[0] for s in samples)
        per_row = statistics.median(s[1] for s in samples)
        print(
            f"{name:12} {rate:10,.0f} rows/s, insert call {per_row:.2f} µs/row (median of {runs})"
        )


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
