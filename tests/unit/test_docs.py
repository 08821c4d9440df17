"""Every Python code block in the README and docs runs (blocks that are fragments say so)."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks() -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        for number, block in enumerate(BLOCK.findall(document.read_text(encoding="utf-8")), 1):
            # Fragments (top-level await, "..." placeholders) are shown, not run.
            if "asyncio.run(" in block:
                found.append((f"{document.name}#{number}", block))
    return found


@pytest.mark.parametrize(("name", "code"), _blocks(), ids=[name for name, _ in _blocks()])
def test_code_block_runs(name: str, code: str, tmp_path: pathlib.Path) -> None:
    # The block runs in another folder: pass this process's import path, made absolute, so
    # it imports the factstream under test (a relative PYTHONPATH would not resolve there).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in sys.path)}
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert completed.returncode == 0, f"{name} failed:\n{completed.stderr}"
