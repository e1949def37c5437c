"""The README's two scripts, run with options as a user types them.

`scripts/_setup.sh` is sourced by both, so it must never read the user's options: first against
a stand-in `.venv` whose python and monitor only log what they are asked (what gets installed,
when, and what runs), then the real scripts on this checkout's `.venv`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README_OPTIONS = (
    "--seed",
    "--days",
    "--outlets",
    "--articles-per-day",
    "--port",
    "--dir",
    "--no-dashboard",
)

FAKE_PYTHON = """#!/usr/bin/env bash
echo "python $*" >> "$LOG"
if [ "${1:-} ${2:-} ${3:-}" = "-m pip install" ] && [ -n "${FAIL_PIP:-}" ]; then
    echo "pip: no such extra" >&2
    exit 1
fi
"""
FAKE_MONITOR = """#!/usr/bin/env bash
echo "monitor $* (in $PWD)" >> "$LOG"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the scripts beside a stand-in .venv that logs instead of installing."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "scripts", root / "scripts")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("python", FAKE_PYTHON), ("monitor", FAKE_MONITOR)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    tools = tmp_path / "tools"  # so scripts/test never tries to install chromium
    tools.mkdir()
    (tools / "chromium").write_text("#!/bin/sh\n")
    (tools / "chromium").chmod(0o755)
    return root


def run_script(project: Path, *args: str, cwd: Path | None = None, **env: str):
    log = project / "log.txt"
    environ = {
        **os.environ,
        "LOG": str(log),
        "PATH": f"{project.parent / 'tools'}:{os.environ['PATH']}",
        **env,
    }
    environ.pop("SETUP_EXTRAS", None)
    result = subprocess.run(
        [str(project / "scripts" / args[0]), *args[1:]],
        cwd=cwd or project,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return result, lines


def installs(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("python -m pip install") and "-e" in line]


def stamp_of(project: Path) -> str:
    return hashlib.sha256((project / "pyproject.toml").read_bytes()).hexdigest()[:16]


def test_setup_never_takes_the_users_options_for_extras(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result, lines = run_script(project, "demo", "--port", "8611", "--dir", "d", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert installs(lines) == [
        "python -m pip install --quiet --disable-pip-version-check -e ."
    ]  # not ".[--port]"
    # the options reach `monitor demo` untouched, run from where the user is (a relative --dir)
    assert lines[-1] == f"monitor demo --port 8611 --dir d (in {elsewhere})"
    assert (project / ".venv" / ".installed").read_text().strip() == stamp_of(project)

    # installed once: the next run goes straight to the demo
    result, lines = run_script(project, "demo", "--help")
    assert result.returncode == 0 and installs(lines) == []
    assert lines == [f"monitor demo --help (in {project})"]

    # scripts/test installs its own extras, and its options go to pytest
    result, lines = run_script(project, "test", "-k", "store", "--collect-only", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert installs(lines) == [
        "python -m pip install --quiet --disable-pip-version-check -e .[test]"
    ]
    assert lines[-1] == "python -m pytest -k store --collect-only"

    # a changed pyproject.toml installs again
    with (project / "pyproject.toml").open("a") as f:
        f.write("\n# changed\n")
    result, lines = run_script(project, "demo", "--seed", "3")
    assert len(installs(lines)) == 1


def test_an_install_with_more_extras_serves_the_plain_one(project: Path) -> None:
    result, lines = run_script(project, "test", "--collect-only")
    assert installs(lines) and result.returncode == 0
    result, lines = run_script(project, "demo", "--days", "2")
    assert installs(lines) == [] and lines == [f"monitor demo --days 2 (in {project})"]
    assert not (project / ".venv" / ".installed").exists()


def test_a_failed_install_leaves_no_stamp(project: Path) -> None:
    result, lines = run_script(project, "demo", "--port", "8611", FAIL_PIP="1")
    assert result.returncode != 0
    assert "pip: no such extra" in result.stderr
    assert not any(line.startswith("monitor") for line in lines)  # the demo did not start
    assert not list((project / ".venv").glob(".installed*"))
    # a stale stamp from an earlier install is removed too, so it cannot pass for this one
    (project / ".venv" / ".installed").write_text("0123456789abcdef\n")
    result, _ = run_script(project, "demo", FAIL_PIP="1")
    assert result.returncode != 0 and not (project / ".venv" / ".installed").exists()
    # and the next run tries again
    result, lines = run_script(project, "demo")
    assert result.returncode == 0 and len(installs(lines)) == 1
    assert (project / ".venv" / ".installed").exists()


def test_every_demo_option_has_help_with_its_default() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    demo = sub.choices["demo"]
    actions = {s: a for a in demo._actions for s in a.option_strings}
    for option in README_OPTIONS:
        action = actions[option]
        assert action.help and "default" in action.help, option
    readme = (ROOT / "README.md").read_text()
    for option in README_OPTIONS:
        assert f"`{option}" in readme, option


# --- the real scripts, on this checkout -----------------------------------------------------

VENV = ROOT / ".venv"


def real_venv_ready() -> bool:
    """Whether scripts/test made the running .venv (so the scripts install nothing now)."""
    return Path(sys.prefix).resolve() == VENV.resolve() and any(VENV.glob(".installed*"))


needs_venv = pytest.mark.skipif(
    not real_venv_ready(), reason="runs the scripts on .venv: run the suite with scripts/test"
)


def run_real(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SETUP_EXTRAS", "MONITOR_CONFIG")}
    return subprocess.run(
        [str(ROOT / "scripts" / args[0]), *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@needs_venv
def test_scripts_demo_help(tmp_path: Path) -> None:
    result = run_real("demo", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "installing" not in result.stderr  # nothing to install: the stamp covers it
    for option in README_OPTIONS:
        assert option in result.stdout
    assert "(default: 7)" in result.stdout and "(default: 8501)" in result.stdout


@needs_venv
def test_scripts_demo_runs_to_completion_with_options(tmp_path: Path) -> None:
    result = run_real(
        "demo",
        "--no-dashboard",
        "--seed",
        "3",
        "--days",
        "2",
        "--outlets",
        "3",
        "--articles-per-day",
        "60",
        "--port",
        "8611",
        "--dir",
        "my-demo",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "demo world: 3 outlets" in result.stdout and "over 2 days" in result.stdout
    assert "3 feeds: 3 ok, 0 unchanged, 0 failed" in result.stdout
    assert "ingesting 2 days of history: 3/3 feeds polled" in result.stderr
    folder = tmp_path / "my-demo"  # relative to where the user is
    assert (folder / "feeds.yaml").is_file() and (folder / "data" / "manifest.json").is_file()


@needs_venv
def test_scripts_demo_refuses_bad_options_in_one_line(tmp_path: Path) -> None:
    result = run_real("demo", "--days", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "--days: must be from 1 to 3,650, got 0" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_real("demo", "--days", "400", "--articles-per-day", "1000", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: the demo world is capped at 300,000 articles of history; --days 400 "
        "x --articles-per-day 1,000 = 400,000 (lower one of them)"
    ]
    assert not (tmp_path / ".monitor-demo").exists()


@needs_venv
def test_scripts_test_passes_its_options_to_pytest(tmp_path: Path) -> None:
    result = run_real("test", "--collect-only", "-q", "tests/test_docs.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tests/test_docs.py::test_readme_documents_every_command" in result.stdout
    assert "installing" not in result.stderr
