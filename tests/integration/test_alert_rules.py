"""The Prometheus alert rules are valid and fire (and stay quiet) as their unit tests say."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

from tests.services import REQUIRED

RULES = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    message = "promtool is not installed (Debian package 'prometheus')"
    if REQUIRED:
        pytest.fail(f"{message}, and FACTSTREAM_REQUIRE_SERVICES=1 requires it")
    pytest.skip(message)


def test_alert_rules_are_valid() -> None:
    result = subprocess.run(
        [_promtool(), "check", "rules", "factstream-alerts.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_alert_rules_pass_their_unit_tests() -> None:
    result = subprocess.run(
        [_promtool(), "test", "rules", "factstream-alerts.test.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
