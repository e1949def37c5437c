"""Scale (issue 14): bytes per article, how each question's cost grows, and the cold open.

    python -m bench --only scale [--store-dirs DIR:DIR] [--scale-sizes 200000,1000000,2000000]
    python -m bench --only cold  [--store-dirs DIR:DIR]

scale: for each complete store built by bench/build_store.py at the sizes asked for (found in
`--store-dirs`, default bench/out/stores; a store is complete when its bench-store.json is
there and its manifest holds the articles it names), it measures

- bytes per article on disk: the live files of the manifest (what a snapshot reads) and the
  whole folder (with the replaced files a later writer deletes), divided by the articles;
- bytes per article in memory: the RSS of a fresh process that holds a snapshot and has run
  each view's question once (`measure` below), and what the store added to the process's RSS
  before it opened it;
- the warm cost of each view's question (bench/bench_store.py's questions and plan rules):
  two fresh processes per store, in opposite orders of the stores, each running every
  question `--runs` times; the figure is the fastest run (other work on the shared machine
  only ever adds time), with the median CPU of the process beside it;

then fits each question's cost against the articles stored, as a power law (t = a * n^b, a
straight line in log-log) and as a straight line (t = c + d * n), says which one fits (the
smaller relative error), and extrapolates it to 10M and 100M articles. PostgreSQL's figures
are those measured at 200k and 2M (docs/deploy.md section 7), extrapolated by the same power
law through those two points. Predictions are predictions: no 10M or 100M store is measured.

cold: the first question of a fresh process on a store whose files are not in the OS cache:
the largest store found is copied to a scratch folder under /tmp (the stores are never written
to), its pages are evicted from the OS cache (`echo 3 > /proc/sys/vm/drop_caches` when
permitted, else `posix_fadvise(DONTNEED)` on every file of the copy, checked with `fincore`
when it is installed), and `python -m bench.bench_store fresh` answers one question; then the
same in a second fresh process with the cache warm, beside the warm in-process figure.

Worker mode (a process of its own):

    python -m bench.bench_scale measure --store DIR [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Results, Row, count, log, median, run_worker, secs

# the views' questions (bench/bench_store.py's names) and their labels
VIEW_QUERIES = {
    "timeline": "timeline, 5 entities x 90 days",
    "normalized": "normalized timeline",
    "co_mentions": "co-mentions of 20 entities, 90 days",
    "overview": "overview of 1,000 entities",
    "article_page": "one page of the article list",
}
PREDICT_AT = (10_000_000, 100_000_000)
# PostgreSQL, warm, as measured (docs/deploy.md section 7 and docs/benchmarks.md): articles ->
# seconds. 200k: `--only postgres` at the quick size; 2M: `--only postgres --articles 2000000`.
PG_MEASURED = {
    "timeline": {200_000: 0.037, 2_000_000: 0.20},
    "normalized": {2_000_000: 0.18},
    "co_mentions": {2_000_000: 0.75},
    "overview": {200_000: 0.22, 2_000_000: 2.08},
    "article_page": {200_000: 0.048, 2_000_000: 0.24},
}
COLD_QUERIES = ("timeline", "overview", "article_page")
# The one measurement beyond 2M: round 1's --full run (2026-11-30, docs/benchmarks.md; the code
# before stories, tone and names), 10M vs 2M warm. Its growth, as an exponent, bounds the
# predictions from above: the fit over 200k-2M is the optimistic end.
ROUND1_10M_OVER_2M = {
    "timeline": 3.2, "normalized": 3.1, "co_mentions": 4.2, "overview": 3.0,
    "article_page": 2.4,
}  # fmt: skip


# --------------------------------------------------------------------------------------------
# Fitting


def fit_power(ns: list[float], ts: list[float]) -> tuple[float, float]:
    """Least squares of log t = log a + b log n: (a, b)."""
    xs, ys = [math.log(n) for n in ns], [math.log(t) for t in ts]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return math.exp(my - b * mx), b


def fit_linear(ns: list[float], ts: list[float]) -> tuple[float, float]:
    """Least squares of t = c + d n: (c, d)."""
    mx, my = sum(ns) / len(ns), sum(ts) / len(ts)
    sxx = sum((x - mx) ** 2 for x in ns)
    d = sum((x - mx) * (y - my) for x, y in zip(ns, ts, strict=True)) / sxx
    return my - d * mx, d


def rel_error(ts: list[float], predicted: list[float]) -> float:
    """Root mean square of the relative errors (a model must fit small and large sizes alike)."""
    return math.sqrt(sum(((p - t) / t) ** 2 for t, p in zip(ts, predicted, strict=True)) / len(ts))


def fit(ns: list[float], ts: list[float]) -> dict[str, Any]:
    """Both models, their errors at the points measured, the better one's name, and its
    predictions at PREDICT_AT. With two points both models pass through them exactly; the
    power law is then the one used (costs here grow sublinearly: a line through two points
    would extrapolate an intercept)."""
    a, b = fit_power(ns, ts)
    c, d = fit_linear(ns, ts)
    power_err = rel_error(ts, [a * n**b for n in ns])
    linear_err = rel_error(ts, [c + d * n for n in ns])
    best = "power" if len(ns) < 3 or power_err <= linear_err else "linear"
    predict = {n: (a * n**b if best == "power" else c + d * n) for n in PREDICT_AT}
    return {
        "exponent": b, "power": (a, b), "linear": (c, d), "power_err": power_err,
        "linear_err": linear_err, "best": best, "predict": predict, "points": len(ns),
    }  # fmt: skip


# --------------------------------------------------------------------------------------------
# Stores


def find_stores(
    dirs: list[Path], sizes: list[int], days: int, entities: int
) -> list[dict[str, Any]]:
    """The complete store of each size (the first found in `dirs`); an incomplete one is
    reported with why, so that the table says what was left out."""
    from bench.build_store import BUILD_VERSION

    found = []
    for n in sizes:
        key = f"a{n}-d{days}-e{entities}-o200-s1-v{BUILD_VERSION}"
        entry: dict[str, Any] = {"articles_asked": n, "key": key, "complete": False, "why": ""}
        for d in dirs:
            folder = d / key
            if not folder.is_dir():
                continue
            entry["folder"] = str(folder)
            why = store_incomplete(folder)
            if why:
                entry["why"] = f"{folder}: {why}"
                continue
            entry.update(
                complete=True, why="", meta=json.loads((folder / "bench-store.json").read_text())
            )
            break
        else:
            if not entry.get("why"):
                entry["why"] = f"no store {key} in {', '.join(map(str, dirs))}"
        found.append(entry)
    return found


def store_incomplete(folder: Path) -> str:
    """'' for a complete build, else what is missing."""
    meta_path = folder / "bench-store.json"
    manifest = manifest_of(folder / "data")
    if manifest is None:
        return "no manifest"
    articles = sum(f["rows"] for f in manifest["tables"].get("articles", []))
    if not meta_path.exists():
        return (
            f"an unfinished build (no bench-store.json; the manifest holds {articles:,} articles)"
        )
    meta = json.loads(meta_path.read_text())
    if meta.get("articles") != articles:
        return f"the manifest holds {articles:,} articles, the build says {meta.get('articles')}"
    return ""


def manifest_of(data: Path) -> dict[str, Any] | None:
    try:
        manifest: dict[str, Any] = json.loads((data / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest


def disk_usage(data: Path) -> dict[str, Any]:
    """Bytes of the manifest's live files (by table) and of the whole folder."""
    manifest = manifest_of(data)
    assert manifest is not None
    tables: dict[str, int] = {}
    for table, files in manifest["tables"].items():
        size = sum((data / f["path"]).stat().st_size for f in files)
        if size:
            tables[table] = size
    live = sum(tables.values()) + (data / "manifest.json").stat().st_size
    folder = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    articles = sum(f["rows"] for f in manifest["tables"]["articles"])
    mentions = sum(f["rows"] for f in manifest["tables"]["mentions"])
    return {"live": live, "folder": folder, "tables": tables, "articles": articles,
            "mentions": mentions}  # fmt: skip


def measure(store: str, runs: int, days: int = 90) -> dict[str, Any]:
    """In this (fresh) process: RSS after the imports and after opening a snapshot; then each
    view's question once (untimed, RSS after it), then `runs` timed runs of each: wall seconds
    and the process's CPU seconds (DuckDB's threads included). The plan (which entities and
    days to ask about) follows bench/bench_store.py's rules."""
    import psutil

    import monitor.queries  # noqa: F401
    from bench.bench_store import make_plan, run_query
    from monitor.store import open_store

    me = psutil.Process()
    rss = {"imports": me.memory_info().rss}
    snap = open_store(store).snapshot()
    plan = make_plan(snap, days)
    rss["snapshot"] = me.memory_info().rss
    for name in VIEW_QUERIES:
        run_query(name, snap, plan)
        rss[name] = me.memory_info().rss
    peak = me.memory_info().rss
    wall: dict[str, list[float]] = {q: [] for q in VIEW_QUERIES}
    cpu: dict[str, list[float]] = {q: [] for q in VIEW_QUERIES}
    for _ in range(runs):
        for name in VIEW_QUERIES:
            t, c = time.perf_counter(), me.cpu_times()
            run_query(name, snap, plan)
            c2 = me.cpu_times()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(c2.user + c2.system - c.user - c.system)
    return {"rss": rss, "peak": peak, "wall": wall, "cpu": cpu, "plan": plan}


def section_scale(args: argparse.Namespace, res: Results) -> dict[str, Any] | None:
    sizes = [int(s) for s in args.scale_sizes.split(",")]
    dirs = [Path(d) for d in args.store_dirs.split(":")]
    stores = find_stores(dirs, sizes, args.days, args.entities)
    measured = []
    runs = max(args.runs, 5)
    for s in stores:
        if not s["complete"]:
            res.skip("scale", "bytes per article", count(s["articles_asked"]), "", s["why"])
            continue
        data = Path(s["folder"]) / "data"
        log(f"scale: {count(s['articles_asked'])} store at {s['folder']}")
        disk = disk_usage(data)
        mem = run_worker("bench_scale", ["measure", "--store", str(data), "--runs", str(runs)])
        s.update(disk=disk, mem=mem, rounds=[mem])
        measured.append(s)
        n = disk["articles"]
        added = mem["peak"] - mem["rss"]["imports"]
        res.add(Row(
            "scale", "bytes per article: on disk / in memory", store_size(disk),
            f"{disk['live'] / n:,.0f} B on disk; RSS {mem['peak'] / 2**20:,.0f} MB "
            f"({added / n:,.0f} B per article above the imports)", "", None,
            f"live files {disk['live'] / 2**20:,.0f} MB ("
            + ", ".join(f"{t} {b / 2**20:,.0f}" for t, b in disk["tables"].items())
            + f"), the folder {disk['folder'] / 2**20:,.0f} MB with the replaced files a later "
            f"writer deletes; a fresh process's RSS: {mem['rss']['imports'] / 2**20:,.0f} MB "
            f"after the imports, {mem['rss']['snapshot'] / 2**20:,.0f} MB with a snapshot, "
            f"{mem['peak'] / 2**20:,.0f} MB after each view's question once ("
            + ", ".join(f"{q} {mem['rss'][q] / 2**20:,.0f}" for q in VIEW_QUERIES) + " MB)",
            disk["live"] / n,
        ))  # fmt: skip
    if len(measured) < 2:
        res.skip("scale", "cost growth of the views' questions", "", "", "fewer than 2 stores")
        return {"stores": stores}
    # a second round in the reverse order, in new processes; each question's figure at each
    # size is its fastest run of both (the one other work on the machine disturbed least)
    for s in reversed(measured):
        data = Path(s["folder"]) / "data"
        s["rounds"].append(
            run_worker("bench_scale", ["measure", "--store", str(data), "--runs", str(runs)])
        )
    ns = [float(s["disk"]["articles"]) for s in measured]
    sizes_label = " / ".join(count(round(n, -4)) for n in ns)
    rss = [float(s["mem"]["peak"]) for s in measured]
    c, d = fit_linear(ns, rss)
    res.add(Row(
        "scale", "memory of a process holding a snapshot: growth and prediction",
        f"fit over {sizes_label}",
        f"{d:,.0f} B per article more; 10M {(c + d * 1e7) / 2**20:,.0f} MB, 100M "
        f"{(c + d * 1e8) / 2**20:,.0f} MB (predicted)", "", None,
        "RSS after each view's question once: "
        + ", ".join(f"{count(round(s['disk']['articles'], -4))} {s['mem']['peak'] / 2**20:,.0f} MB"
                    for s in measured)
        + f"; straight line {c / 2**20:,.0f} MB + {d:,.1f} B per article (RMS relative error "
        f"{rel_error(rss, [c + d * n for n in ns]):.0%}); DuckDB keeps what the questions read "
        "(a 90-day window, which holds more rows as the store gets denser) in its buffer cache",
        d,
    ))  # fmt: skip
    live = [float(s["disk"]["live"]) for s in measured]
    per_article = sum(live) / sum(ns)
    res.add(Row(
        "scale", "store on disk: prediction", f"from {sizes_label}",
        f"{per_article:,.0f} B per article; 10M {per_article * 1e7 / 2**30:,.1f} GB, 100M "
        f"{per_article * 1e8 / 2**30:,.0f} GB (predicted)", "", None,
        "the manifest's live files (articles with their text, sources, mentions, stories, "
        "names); a commit that compacts keeps the replaced files until a later writer deletes "
        "them, so the folder can briefly hold up to twice that",
        per_article,
    ))  # fmt: skip
    fits: dict[str, Any] = {}
    for q, label in VIEW_QUERIES.items():
        ts = [min(min(r["wall"][q]) for r in s["rounds"]) for s in measured]
        cpus = [median([c for r in s["rounds"] for c in r["cpu"][q]]) for s in measured]
        cpu_exponent = fit_power(ns, cpus)[1]
        f = fits[q] = fit(ns, ts)
        # the pessimistic end: round 1's 2M -> 10M growth, from the largest store measured now
        b1 = math.log(ROUND1_10M_OVER_2M[q]) / math.log(5)
        high = {m: ts[-1] * (m / ns[-1]) ** b1 for m in PREDICT_AT}
        f["round1"] = (b1, high)
        res.add(Row(
            "scale", f"{label}, warm: growth and prediction (embedded store)",
            f"fit over {sizes_label}",
            f"~n^{f['exponent']:.2f} (round 1: n^{b1:.2f}); 10M {span(f, PREDICT_AT[0])}, 100M "
            f"{span(f, PREDICT_AT[1])} (predicted)", "", None,
            "measured (fastest of 2 processes x "
            + f"{runs} runs) "
            + ", ".join(f"{count(round(n, -4))} {secs(t)}" for n, t in zip(ns, ts, strict=True))
            + " (medians: "
            + "; ".join(
                "/".join(secs(median(r["wall"][q])) for r in s["rounds"]) for s in measured
            ) + "); CPU of the process per run (median): "
            + ", ".join(secs(c) for c in cpus) + f", ~n^{cpu_exponent:.2f}"
            + f"; power law t = {f['power'][0]:.3g} n^{f['power'][1]:.3f} (RMS relative error "
            f"{f['power_err']:.0%}); straight line t = {f['linear'][0] * 1000:.1f} ms + "
            f"{f['linear'][1] * 1e9:.2f} ms per 1M articles ({f['linear_err']:.0%}); "
            f"predicted with the {f['best']} fit and with round 1's growth from 2M to 10M "
            f"({ROUND1_10M_OVER_2M[q]}x, n^{b1:.2f}) from the {count(round(ns[-1], -4))} figure; "
            "the range is what the two give",
            f["exponent"],
        ))  # fmt: skip
    for q, label in VIEW_QUERIES.items():
        pts = PG_MEASURED[q]
        if len(pts) < 2:
            # one point: the embedded store's steeper exponent (the same rows are read)
            (n0, t0) = next(iter(pts.items()))
            b = max(fits[q]["exponent"], fits[q]["round1"][0])
            predict = {n: t0 * (n / n0) ** b for n in PREDICT_AT}
            how = (
                f"2M measured {secs(t0)}; grown with the embedded store's steeper exponent "
                f"(fit or round 1), n^{b:.2f}"
            )
        else:
            f = fit([float(n) for n in pts], list(pts.values()))
            b, predict = f["exponent"], f["predict"]
            how = (
                "measured "
                + ", ".join(f"{count(n)} {secs(t)}" for n, t in pts.items())
                + (f"; power law through both: n^{b:.2f}")
            )
        res.add(Row(
            "scale", f"PostgreSQL: {label}, warm: prediction", "from docs/deploy.md section 7",
            f"~n^{b:.2f}; 10M {secs(predict[PREDICT_AT[0]])}, 100M "
            f"{secs(predict[PREDICT_AT[1]])} (predicted)", "", None, how, b,
        ))  # fmt: skip
    return {"stores": stores, "fits": fits}


def span(f: dict[str, Any], n: int) -> str:
    """'a to b' (lower first) from a fit's prediction and its round-1 prediction at `n`."""
    lo, hi = sorted((f["predict"][n], f["round1"][1][n]))
    return f"{secs(lo)} to {secs(hi)}"


def store_size(disk: dict[str, Any]) -> str:
    articles, mentions = round(disk["articles"], -4), round(disk["mentions"], -4)
    return f"{count(articles)} articles / {count(mentions)} mentions"


# --------------------------------------------------------------------------------------------
# Cold open


def drop_caches() -> str:
    """Empty the OS page cache if this process may; '' when done, else why not."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        return f"echo 3 > /proc/sys/vm/drop_caches refused ({exc.strerror})"
    return ""


def evict(folder: Path) -> None:
    """Ask the OS to drop the cached pages of every file of `folder` (clean pages go)."""
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def cached_share(folder: Path) -> float | None:
    """The share of `folder`'s bytes in the OS page cache (util-linux fincore), None without it."""
    files = [str(p) for p in folder.rglob("*.parquet")]
    if not shutil.which("fincore") or not files:
        return None
    proc = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES,SIZE", *files],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    res = size = 0
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            res, size = res + int(parts[0]), size + int(parts[1])
    return res / size if size else None


def section_cold(args: argparse.Namespace, res: Results) -> None:
    dirs = [Path(d) for d in args.store_dirs.split(":")]
    sizes = sorted((int(s) for s in args.scale_sizes.split(",")), reverse=True)
    figure = "first question of a fresh process, OS cache cold"
    store = next(
        (s for s in find_stores(dirs, sizes, args.days, args.entities) if s["complete"]), None
    )
    if store is None:
        res.skip("cold", figure, "", "", "no complete store among " + args.scale_sizes)
        return
    src = Path(store["folder"]) / "data"
    scratch = Path(tempfile.mkdtemp(prefix="bench-cold-", dir="/tmp"))
    copy = scratch / "data"
    try:
        log(f"cold: copying {src} to {copy}")
        shutil.copytree(src, copy)
        disk = disk_usage(copy)
        label = store_size(disk)
        warm = run_worker(
            "bench_store", ["warm", "--store", str(copy), "--runs", str(max(args.runs, 5))]
        )
        plan = warm["plan"]
        refused = drop_caches()
        how = (
            "echo 3 > /proc/sys/vm/drop_caches before each cold run"
            if not refused
            else f"{refused}: posix_fadvise(DONTNEED) on every file of the fresh copy instead"
        )
        runs = max(3, args.runs)
        for q in COLD_QUERIES:
            cold, shares, hot = [], [], []
            for _ in range(runs):
                if refused or drop_caches():
                    evict(copy)
                shares.append(cached_share(copy))
                cold.append(
                    run_worker(
                        "bench_store",
                        ["fresh", "--store", str(copy), "--plan", json.dumps(plan), "--query", q],
                    )
                )
                hot.append(
                    run_worker(
                        "bench_store",
                        ["fresh", "--store", str(copy), "--plan", json.dumps(plan), "--query", q],
                    )
                )
            c = median([r["first_query"] for r in cold])
            h = median([r["first_query"] for r in hot])
            w = warm["seconds"][q]
            known = [s for s in shares if s is not None]
            res.add(Row(
                "cold", f"{VIEW_QUERIES[q]}: first question of a fresh process, OS cache cold",
                label, f"{secs(c)} (OS cache warm {secs(h)}; in a warm process {secs(w)})", "",
                None,
                f"{how}; of the store's files in the OS cache before each cold run: "
                + (", ".join(f"{s:.1%}" for s in known) if known else "not known (no fincore)")
                + "; cold runs: " + ", ".join(secs(r["first_query"]) for r in cold)
                + "; whole process to the answer (cold): "
                + ", ".join(secs(r["process_wall"]) for r in cold)
                + "; fresh process, cache warm: " + ", ".join(secs(r["first_query"]) for r in hot)
                + f"; a fresh copy of {store['folder']}",
                c,
            ))  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    from bench.common import emit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["measure"])
    parser.add_argument("--store", required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    out = measure(args.store, args.runs)
    out["seconds"] = time.perf_counter() - started
    emit(out)


if __name__ == "__main__":
    main()
