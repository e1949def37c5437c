"""The house style holds: ruff (lint and format) on everything, mypy on the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = ["monitor", "monitor_app", "dashboard.py", "tests", "bench", "scripts"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_lint_and_format():
    lint = run("ruff", "check", *PATHS)
    assert lint.returncode == 0, lint.stdout
    fmt = run("ruff", "format", "--check", *PATHS)
    assert fmt.returncode == 0, fmt.stdout


def test_mypy_on_the_package():
    result = run("mypy")
    assert result.returncode == 0, result.stdout
