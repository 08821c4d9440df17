"""Memory figures of the current process, from /proc (no psutil)."""

from __future__ import annotations

import os


def status_kb(field: str) -> int:
    """A ``kB`` field of /proc/self/status, e.g. ``VmRSS`` (now) or ``VmHWM`` (peak)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def files_size(*paths: str) -> int:
    """Total size in bytes of those of ``paths`` that exist."""
    return sum(os.path.getsize(path) for path in paths if os.path.exists(path))
