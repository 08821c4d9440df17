"""Entry point of the ``factstream`` command (Typer, from the ``cli`` extra)."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from .app import app
    except ImportError as exc:  # pragma: no cover - depends on the install
        sys.stderr.write(
            f"factstream: the command line needs the 'cli' extra ({exc.name} is missing): "
            "pip install 'factstream[cli]'\n"
        )
        raise SystemExit(2) from exc
    app()
