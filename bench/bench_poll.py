"""`monitor poll --once` with every feed unchanged, as a whole process, beside `reader` (issue 14).

    python -m bench --only poll

The feed server of the ingest section (bench/feedserver.py: 200 demo-world feeds of 50 items,
ETag / Last-Modified, 304 on a conditional GET) is polled once by `monitor poll --once` into a
fresh store (untimed: it stores the validators); then `monitor poll --once` runs again as a
whole process, several times, while every feed answers 304: wall time from the process's start
to its exit, as a user (or cron) runs it. The feed server's own counters check that every
request of a timed run was answered 304. The peer is `reader`'s warm pass
(`update_feeds(scheduled=False)` on a database that holds every feed, in a warm process:
bench/bench_ingest.py), measured in the same run; `python -c pass` is measured too.

Then one more run each under `python -X importtime` and `cProfile`, to say where the time of
the process goes: the imports by top-level package (the self time of each module, summed; and
each package the project imports with all it imports first, e.g. asyncio with ssl;
and whether numpy, pyarrow, pandas or DuckDB came in at all), and the process's phases
(configuration, store, poller, the poll, the commit) by the cumulative time of the functions
that make them. The processes run as on a user's machine: with
PYTHONDONTWRITEBYTECODE removed from their environment, so compiled modules are cached.

What it leaves to others: the in-process warm pass (the ingest section's "warm pass" row).
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import resource
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import OUT, PYTHON, ROOT, Results, Row, log, median, run_worker, secs

MONITOR = str(Path(PYTHON).with_name("monitor"))
TARGET = 0.4  # at most this share of reader's warm pass
# the phases of `monitor poll --once`: (label, file suffix, function name) in cProfile's terms
PHASES = (
    ("read feeds.yaml", "monitor/config.py", "load_config"),
    ("open the store", "monitor/store/base.py", "open_store"),
    ("snapshots of the store", "monitor/store/parquet.py", "snapshot"),
    ("alerting set-up", "monitor/cli.py", "alerting"),
    ("Poller() (matcher, analyses)", "monitor/poll.py", "__init__"),
    ("Poller.open()", "monitor/poll.py", "open"),
    ("poll_once() (fetch 200 feeds, commit)", "monitor/poll.py", "poll_once"),
    ("of which the commit", "monitor/poll.py", "_commit"),
)


def _stats(server: str) -> dict[str, int]:
    with urllib.request.urlopen(server + "/_bench/stats", timeout=10) as r:
        data: dict[str, int] = json.loads(r.read())
        return data


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# as a user's machine runs it: Python caches the compiled modules (an environment that sets
# PYTHONDONTWRITEBYTECODE, as some CI and sandboxes do, recompiles the project at every start:
# ~0.25 s here)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def poll_process(cmd: list[str], server: str) -> tuple[float, int, int, float]:
    """One whole process of `cmd`: wall seconds, requests the feed server saw, how many of
    them it answered 304, and the process's CPU seconds (which a busy machine inflates less)."""
    before = _stats(server)
    started, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, timeout=600, check=False)
    took = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise RuntimeError(f"{' '.join(cmd[1:])} exited {proc.returncode}: {tail}")
    after = _stats(server)
    return took, after["requests"] - before["requests"], after["304"] - before["304"], cpu


def import_times(stderr: str, top: int = 8) -> list[tuple[str, float]]:
    """`python -X importtime` output -> the top-level packages whose modules took longest to
    import: the self time of every module, summed by its top-level package, in seconds."""
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \| *(\S+)", line)
        if m:
            package = m.group(2).split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(m.group(1)) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def import_roots(stderr: str, top: int = 8) -> list[tuple[str, float]]:
    """`python -X importtime` output -> what each package the project (or the interpreter's
    start) imports costs with everything it imports first (asyncio with ssl and the rest: its
    cumulative time), in seconds; and the project's own modules' self time, as
    "monitor (own)"."""
    lines = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            lines.append((int(m.group(1)), int(m.group(2)), len(m.group(3)), m.group(4)))
    totals: dict[str, float] = {}
    for i, (own, cumulative, indent, name) in enumerate(lines):
        package = name.split(".")[0]
        if package == "monitor":
            totals["monitor (own)"] = totals.get("monitor (own)", 0.0) + own / 1e6
            continue
        # children are listed before their parent: the parent is the next line less indented
        parent = next((n for _, _, ind, n in lines[i + 1 :] if ind < indent), "")
        if parent == "" or parent.split(".")[0] == "monitor":
            totals[package] = totals.get(package, 0.0) + cumulative / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def profile_phases(stats_path: Path) -> dict[str, float]:
    """The cumulative seconds of each of PHASES' functions in a cProfile dump (0: not called)."""
    stats = pstats.Stats(str(stats_path))
    found: dict[str, float] = {}
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in table.items():
        for label, suffix, name in PHASES:
            if func == name and filename.endswith(suffix):
                found[label] = max(found.get(label, 0.0), ct)
    return {label: found.get(label, 0.0) for label, _, _ in PHASES}


def top_functions(stats_path: Path, n: int = 6) -> list[tuple[str, float]]:
    """The functions with the most time of their own (tottime)."""
    stats = pstats.Stats(str(stats_path))
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = sorted(table.items(), key=lambda kv: -kv[1][2])[:n]
    out = []
    for (filename, line, func), (_cc, _nc, tt, _ct, _callers) in rows:
        where = "/".join(Path(filename).parts[-2:]) if filename != "~" else "builtin"
        out.append((f"{func} ({where}:{line})", tt))
    return out


def _entry(argv: list[str]) -> str:
    return f"import sys\nfrom monitor.cli import main\nsys.exit(main({argv!r}))\n"


def section_poll(args: argparse.Namespace, res: Results) -> dict[str, Any] | None:
    from bench.__main__ import FeedServer, ingest_watchlist
    from bench.world import write_feeds_yaml

    figure = "`monitor poll --once`, every feed unchanged (304), whole process"
    size = f"{args.feeds} feeds, {args.aliases:,} aliases"
    target = f"<= {TARGET}x reader's warm pass"
    days = max(14, -(-args.items * 4 // 15))
    folder = OUT / "scratch" / "poll"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        server = FeedServer(
            "--outlets", str(args.feeds), "--limit", str(args.items), "--days", str(days),
            "--per-day", "3000",
        )  # fmt: skip
    except RuntimeError as exc:
        res.skip("poll", figure, size, target, str(exc))
        return None
    base = server.base_url
    try:
        feeds = [(f"feed {i}", base + p, []) for i, p in enumerate(server.paths)]
        cfg = write_feeds_yaml(
            folder / "feeds.yaml", store=folder / "data", feeds=feeds,
            entities=ingest_watchlist(args.aliases), per_host=16, concurrency=16,
        )  # fmt: skip
        argv = ["-c", str(cfg), "poll", "--once"]
        cmd = [MONITOR, *argv]
        cold = poll_process(cmd, base)[0]
        log(f"poll: the first (cold) `poll --once` took {cold:.2f} s")
        poll_process(cmd, base)  # unmeasured: the OS file cache, the .pyc files
        runs = max(7, 2 * args.runs + 1)
        times, cpus, answered = [], [], []
        reader: list[dict[str, Any]] = []
        urls = folder / "urls.txt"
        urls.write_text("\n".join(u for _, u, _ in feeds))
        reader_runs = max(3, args.runs)
        for i in range(runs):
            took, requests, not_modified, cpu = poll_process(cmd, base)
            times.append(took)
            cpus.append(cpu)
            answered.append((requests, not_modified))
            if i < reader_runs:  # interleaved, so that both see the same load
                db = folder / "reader.sqlite"
                db.unlink(missing_ok=True)
                worker = ["reader", "--db", str(db), "--urls", str(urls)]
                worker += ["--workers", str(args.reader_workers)]
                reader.append(run_worker("bench_ingest", worker))
                log(
                    f"poll run {i + 1}: monitor {took:.3f} s; "
                    f"reader warm {reader[-1]['warm']:.3f} s"
                )
            else:
                log(f"poll run {i + 1}: monitor {took:.3f} s")
        bare = [poll_process([PYTHON, "-c", "pass"], base)[0] for _ in range(runs)]
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        server.stop()
        res.skip("poll", figure, size, target, " ".join(str(exc).split())[:300])
        return None
    try:  # where the time goes: imports, then the phases under cProfile
        imp = subprocess.run(
            [PYTHON, "-X", "importtime", "-c", _entry(argv)],
            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        imports = import_times(imp.stderr)
        roots = import_roots(imp.stderr)
        heavy = [
            m
            for m in ("numpy", "pyarrow", "pandas", "duckdb")
            if re.search(rf"\|\s+{m}$", imp.stderr, re.MULTILINE)
        ]
        total_import = sum(
            int(m.group(1)) / 1e6 for m in re.finditer(r"import time:\s+(\d+) \|", imp.stderr)
        )
        prof_path, script = folder / "poll.prof", folder / "poll_once.py"
        script.write_text(_entry(argv))  # cProfile runs a script or a module, not -c
        prof_started = time.perf_counter()
        subprocess.run(
            [PYTHON, "-m", "cProfile", "-o", str(prof_path), str(script)],
            cwd=ROOT, env=ENV, capture_output=True, timeout=600, check=True,
        )  # fmt: skip
        prof_wall = time.perf_counter() - prof_started
        phases = profile_phases(prof_path)
        own = top_functions(prof_path)
        profiled = ""
    except (subprocess.SubprocessError, OSError) as exc:
        imports, roots, heavy, total_import, phases, own, prof_wall = [], [], [], 0.0, {}, [], 0.0
        profiled = " ".join(str(exc).split())[:300]
    finally:
        server.stop()
    mt = median(times)
    rt = median([r["warm"] for r in reader])
    ratio = mt / rt
    all_304 = all(req == nm == args.feeds for req, nm in answered)
    rcpu = median([r["warm_cpu"] for r in reader])
    res.add(Row(
        "poll", figure, size, f"{secs(mt)} = {ratio:.2f}x reader's warm pass ({secs(rt)})",
        target, ratio <= TARGET and all_304,
        f"runs: {', '.join(f'{t:.3f}' for t in times)} s; reader's warm pass in a warm "
        f"process (update_feeds, workers={args.reader_workers}): "
        + ", ".join(f"{r['warm']:.3f}" for r in reader)
        + f" s; python -c pass {secs(median(bare))}; requests answered 304 in each timed run: "
        + ("all" if all_304 else str(answered))
        + f"; the first (cold) pass {secs(cold)}; CPU of the process: median "
        f"{secs(median(cpus))}, reader's warm pass {secs(rcpu)} ({median(cpus) / rcpu:.2f}x)",
        ratio,
    ))  # fmt: skip
    if profiled:
        res.skip("poll", "where the time of `poll --once` (304) goes", size, "", profiled)
        return None
    res.add(Row(
        "poll", "where the time of `poll --once` (304) goes", size,
        f"imports {secs(total_import)} of {secs(mt)}", "", None,
        "python -X importtime, self time of the modules by top-level package: "
        + ", ".join(f"{p} {secs(t)}" for p, t in imports)
        + "; each package with what it imported first: "
        + ", ".join(f"{p} {secs(t)}" for p, t in roots)
        + f"; numpy, pyarrow, pandas, duckdb imported: {', '.join(heavy) or 'none'}"
        + f"; cProfile (one run, {secs(prof_wall)} under the profiler), cumulative: "
        + ", ".join(f"{label} {secs(t)}" for label, t in phases.items())
        + "; most time of their own: "
        + ", ".join(f"{f} {secs(t)}" for f, t in own),
        total_import,
    ))  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "times": times, "reader": [r["warm"] for r in reader], "bare": bare,
        "imports": imports, "roots": roots, "heavy": heavy, "total_import": total_import,
        "phases": phases, "own": own,
    }  # fmt: skip
