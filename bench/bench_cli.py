"""The command line as a user runs it: whole processes, from start to exit (issue 14).

- start-up: `monitor --help`, `--version` and `validate` on the shipped feeds.yaml, beside
  `python -c pass` measured in the same run (target: <= 0.25 s and <= 8x `python -c pass`);
- scale: `validate` with 60,000 feeds, and `validate` / `mentions` with 10,001 watched entities
  (target: under 2 s each; issue 9 found 50 s and ~11 s).

Each figure is the median of several runs of `.venv/bin/monitor` (the installed entry point).
The scale configs are written to bench/out/scratch/cli/ on each run.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.common import OUT, PYTHON, ROOT, Results, Row, log, median, secs

MONITOR = str(Path(PYTHON).with_name("monitor"))
STARTUP_TARGET = 0.25  # seconds, and at most 8x `python -c pass`
SCALE_TARGET = 2.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wall(cmd: list[str], runs: int) -> tuple[float, list[float], float]:
    """Median wall seconds of `runs` runs of `cmd` (after one unmeasured warm-up run), all the
    times, and the median CPU seconds (which a busy machine inflates less than wall time)."""
    times, cpus = [], []
    for i in range(runs + 1):
        started, cpu = time.perf_counter(), _children_cpu()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=600, check=False)
        took = time.perf_counter() - started
        cpus.append(_children_cpu() - cpu)
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"{' '.join(cmd[1:])} exited {proc.returncode}: {tail}")
        if i:
            times.append(took)
    return median(times), times, median(cpus[1:])


def write_scale_configs(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    feeds = folder / "60000-feeds.yaml"
    with feeds.open("w") as f:
        f.write("store: data\nfeeds:\n")
        for i in range(60_000):
            f.write(
                f"  - name: Feed number {i}\n"
                f"    url: https://news{i % 997}.example.org/section/{i}/rss.xml\n"
                f"    tags: [region-{i % 7}, lang-{i % 3}]\n"
            )
        f.write("watch:\n  - name: Nayib Bukele\n    kind: person\n")
    entities = folder / "10001-entities.yaml"
    with entities.open("w") as f:
        f.write("store: data\nfeeds:\n  - name: A\n    url: https://a.example.org/rss\nwatch:\n")
        for i in range(10_001):
            f.write(
                f"  - name: Person Number {i}\n    kind: person\n"
                f"    aliases: [Alias {i} One, Alias {i} Two]\n"
            )
    return feeds, entities


def section_cli(args: argparse.Namespace, res: Results) -> None:
    runs = max(11, args.runs * 4)
    try:
        base, _, _ = wall([PYTHON, "-c", "pass"], runs)
    except RuntimeError as exc:
        res.skip("cli", "python -c pass", "", "", str(exc))
        return
    log(f"python -c pass: {secs(base)}")
    shipped = str(ROOT / "feeds.yaml")
    for label, cmd in (
        ("monitor --help", [MONITOR, "--help"]),
        ("monitor --version", [MONITOR, "--version"]),
        ("monitor validate (shipped feeds.yaml)", [MONITOR, "-c", shipped, "validate"]),
    ):
        figure = f"{label}, whole process"
        target = f"<= {secs(STARTUP_TARGET)} and <= 8x python -c pass"
        try:
            took, times, cpu = wall(cmd, runs)
        except RuntimeError as exc:
            res.skip("cli", figure, "", target, str(exc))
            continue
        ratio = took / base
        res.add(Row(
            "cli", figure, f"median of {runs}", f"{secs(took)} ({ratio:.1f}x python -c pass)",
            target, took <= STARTUP_TARGET and ratio <= 8,
            f"python -c pass {secs(base)} in the same run; CPU {secs(cpu)}; runs "
            + ", ".join(f"{t * 1000:.0f}" for t in times) + " ms",
            took,
        ))  # fmt: skip
    feeds, entities = write_scale_configs(OUT / "scratch" / "cli")
    for label, size, cmd in (
        ("monitor validate", "60,000 feeds", [MONITOR, "-c", str(feeds), "validate"]),
        ("monitor validate", "10,001 entities", [MONITOR, "-c", str(entities), "validate"]),
        ("monitor mentions (empty store)", "10,001 entities",
         [MONITOR, "-c", str(entities), "mentions", "--format", "csv"]),
    ):  # fmt: skip
        figure = f"{label}, whole process"
        try:
            took, times, cpu = wall(cmd, max(3, args.runs))
        except RuntimeError as exc:
            res.skip("cli", figure, size, f"< {secs(SCALE_TARGET)}", str(exc))
            continue
        res.add(Row(
            "cli", figure, size, f"{secs(took)} (CPU {secs(cpu)})", f"< {secs(SCALE_TARGET)}",
            took < SCALE_TARGET, "runs " + ", ".join(f"{t:.2f}" for t in times) + " s", took,
        ))  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    results = Results()
    section_cli(parser.parse_args(), results)
    for row in results.rows:
        print(f"{row.figure} [{row.size}]: {row.shown} (target {row.target}; {row.status})")
    sys.exit(0)
