"""What the benchmarks share: result rows, medians, subprocess workers, the machine's description.

Every figure is a `Row`: what was measured, at which size, the value, its target and whether
the target was met. Workers that must run in a fresh process (so that one measurement's caches,
threads and memory do not colour the next) are `python -m bench.<module> ...` subprocesses that
print one JSON object as their last line of output; `run_worker` starts one and returns it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"  # git-ignored: built stores, scratch stores, logs
PYTHON = sys.executable
_T0 = time.monotonic()


def log(msg: str) -> None:
    """Progress on stderr, so that stdout holds only the table."""
    print(f"[{time.monotonic() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timed(fn: Callable[[], Any], runs: int, warmup: int = 1) -> tuple[float, list[float], Any]:
    """Median wall seconds of `runs` calls after `warmup` unmeasured ones; also all times and
    the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return median(times), times, result


@dataclass
class Row:
    """One figure of the table."""

    section: str
    figure: str
    size: str
    shown: str  # the measured value, formatted ("1.23 s", "8.1x faster than reader")
    target: str  # "" for figures that are reported without a target
    ok: bool | None = None  # None: no target, or not measured
    note: str = ""
    value: float | None = None  # the raw number behind `shown`, for the JSON record

    @property
    def status(self) -> str:
        if self.shown.startswith("not measured"):
            return "-"
        if self.ok is None:
            return "info" if not self.target else "-"
        return "met" if self.ok else "**MISSED**"


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        log(f"{row.figure} [{row.size}]: {row.shown}  (target {row.target or '-'}; {row.status})")
        return row

    def skip(self, section: str, figure: str, size: str, target: str, reason: str) -> Row:
        return self.add(Row(section, figure, size, f"not measured: {reason}", target))


def secs(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 0.1:
        return f"{s * 1000:.1f} ms"
    if s < 10:
        return f"{s:.2f} s"
    return f"{s:.1f} s"


def count(n: float) -> str:
    """1234567 -> '1.2M', 200000 -> '200k'."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.3g}M"
    if n >= 1000:
        return f"{n / 1000:.3g}k"
    return f"{n:g}"


def run_worker(
    module: str,
    args: Sequence[str],
    *,
    timeout: float = 3600,
    env: dict[str, str] | None = None,
    cpus: set[int] | None = None,
) -> dict[str, Any]:
    """Run `python -m bench.<module> args...` and return the JSON object it printed last.

    `cpus` pins the worker to those CPUs (for "one core" figures).
    """
    cmd = [PYTHON, "-m", f"bench.{module}", *args]

    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        preexec_fn=pin if cpus else None,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(cmd[2:])} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1])


def emit(data: dict[str, Any]) -> None:
    """A worker's answer: one JSON line on stdout."""
    print(json.dumps(data, default=str), flush=True)


# --------------------------------------------------------------------------------------------
# The machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    import psutil

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": f"{usable} usable ({psutil.cpu_count(logical=False) or '?'} physical, "
        f"{psutil.cpu_count()} logical)",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": ", ".join(
            f"{d} {_version(d)}"
            for d in (
                "duckdb",
                "pyarrow",
                "ahocorasick_rs",
                "fastfeedparser",
                "pycurl",
                "streamlit",
                "reader",
                "playwright",
            )
        ),
    }
