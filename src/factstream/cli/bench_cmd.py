"""``factstream bench``: run the benchmark harness of a factstream checkout.

The harness (``benchmarks/`` at the root of the repository) compares factstream with the
``eventsourcing`` library side by side; it is not part of the installed package, so this
command runs it from a checkout (``--repo``, the current folder by default).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command(
        "bench",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(bench)


def bench(
    context: typer.Context,
    repo: Annotated[
        pathlib.Path,
        typer.Option(help="A factstream checkout (the folder holding benchmarks/)."),
    ] = pathlib.Path("."),
) -> None:
    """Run the benchmarks (extra arguments go to the harness, e.g. --backend postgres --quick).

    Needs the ``bench`` extra (eventsourcing, psycopg). See docs/benchmarks.md.
    """
    root = repo.resolve()
    if not (root / "benchmarks" / "__main__.py").is_file():
        typer.echo(
            f"factstream bench: no benchmarks/ in {root}; run it from a factstream checkout "
            "or pass --repo PATH",
            err=True,
        )
        raise typer.Exit(2)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", *context.args], cwd=root, env=env, check=False
    )
    raise typer.Exit(completed.returncode)
