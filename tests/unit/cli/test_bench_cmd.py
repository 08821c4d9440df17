from __future__ import annotations

import pathlib

from typer.testing import CliRunner

from factstream.cli.app import app

ROOT = pathlib.Path(__file__).resolve().parents[3]
runner = CliRunner()


def test_bench_runs_the_harness_of_a_checkout_and_passes_its_arguments() -> None:
    result = runner.invoke(app, ["bench", "--repo", str(ROOT), "--scenarios", "nonsense"])
    # The harness itself refuses the unknown scenario: the arguments reached it.
    assert result.exit_code == 2


def test_bench_outside_a_checkout_says_what_to_do(tmp_path: pathlib.Path) -> None:
    result = runner.invoke(app, ["bench", "--repo", str(tmp_path)])
    assert result.exit_code == 2
    assert "run it from a factstream checkout" in result.output
