"""Every Python block of the write-side docs runs, in order, in one namespace."""

from __future__ import annotations

import ast
import pathlib
import re
import types
from typing import Any

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[3] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


async def run_blocks(path: pathlib.Path) -> None:
    module = types.ModuleType(f"docs_{path.stem.replace('-', '_')}")
    namespace: dict[str, Any] = module.__dict__
    for number, source in enumerate(BLOCK.findall(path.read_text(encoding="utf-8")), 1):
        code = compile(
            source,
            f"{path.name}, block {number}",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            dont_inherit=True,  # the docs run without this module's __future__ imports
        )
        result = eval(code, namespace)
        if result is not None:
            await result


@pytest.mark.parametrize("page", ["write-side.md", "schema-evolution.md"])
async def test_the_code_in_the_docs_runs(page: str) -> None:
    await run_blocks(DOCS / page)
