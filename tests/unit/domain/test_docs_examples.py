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


async def run_blocks(name: str, text: str) -> None:
    module = types.ModuleType(f"docs_{name.replace('-', '_').replace('.', '_')}")
    namespace: dict[str, Any] = module.__dict__
    for number, source in enumerate(BLOCK.findall(text), 1):
        code = compile(
            source,
            f"{name}, block {number}",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            dont_inherit=True,  # the docs run without this module's __future__ imports
        )
        result = eval(code, namespace)
        if result is not None:
            await result


@pytest.mark.parametrize("page", ["write-side.md", "schema-evolution.md"])
async def test_the_code_in_the_docs_runs(page: str) -> None:
    await run_blocks(page, (DOCS / page).read_text(encoding="utf-8"))
