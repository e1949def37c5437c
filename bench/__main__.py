"""The benchmark suite: every performance figure of the project beside its target.

    .venv/bin/python -m bench            # --quick (the default): CI-sized, a few minutes
    .venv/bin/python -m bench --full     # the sizes of the targets (builds 2M and 10M stores)
    .venv/bin/python -m bench --only ingest,queries --articles 500000

Prints a Markdown table (medians of several runs; ratios against the peer measured in the same
run) and writes it, with the machine it ran on, to docs/benchmarks.md (`--no-write` to skip).
Progress goes to stderr. Large stores are built once through the production code path
(bench/build_store.py) and cached under bench/out/ (git-ignored), keyed by their parameters.

Sections (`--only`): cli, match, ingest, poll, analyses, pages, queries, scale, cold, sustained,
postgres, dashboard, sessions. Each
measurement that must not share a process with another runs as a worker subprocess
(`python -m bench.<module>`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from bench.common import (
    OUT,
    PYTHON,
    ROOT,
    Results,
    Row,
    count,
    log,
    machine,
    median,
    run_worker,
    secs,
)

SECTIONS = (
    "cli", "match", "ingest", "poll", "analyses", "pages", "queries", "scale", "cold",
    "sustained", "postgres", "dashboard", "sessions",
)  # fmt: skip
# the sections of the table's rows, in table order, and the --only section that measures each
ROW_SECTIONS = {
    "cli": "cli",
    "match": "match",
    "ingest": "ingest",
    "poll": "poll",
    "analyses": "analyses",
    "pages": "pages",
    "build": "queries",
    "queries": "queries",
    "large": "queries",
    "scale": "scale",
    "cold": "cold",
    "sustained": "sustained",
    "postgres": "postgres",
    "dashboard": "dashboard",
    "sessions": "sessions",
}
QUICK = {
    "articles": 200_000,
    "large_articles": 1_000_000,
    "runs": 3,
    "match_articles": 10_000,
    "sustained_rounds": 3,
    "sessions": 20,
}
FULL = {
    "articles": 2_000_000,
    "large_articles": 10_000_000,
    "runs": 5,
    "match_articles": 50_000,
    "sustained_rounds": 6,
    "sessions": 20,
}
# warm targets of the store queries at 2M articles (seconds); name -> (figure, target)
QUERY_TARGETS = {
    "timeline": ("timeline: 5 entities x 90 days, daily", 0.050),
    "normalized": ("normalized timeline (share of all articles)", 0.100),
    "co_mentions": ("co-mention matrix of 20 entities, 90 days", 0.300),
    "overview": ("overview of {entities} entities, change vs previous 90 days", 0.300),
    "article_page": ("one page of the article list behind a count", 0.100),
    "names": ("rising names, 30 days (issue 13)", 2.0),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="CI sizes (the default)")
    mode.add_argument("--full", action="store_true", help="the sizes of the targets")
    p.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    p.add_argument("--articles", type=int, help="articles in the main store (2M full, 200k quick)")
    p.add_argument(
        "--large-articles", type=int, help="the large store (10M full, 1M quick); 0 skips"
    )
    p.add_argument("--days", type=int, default=730, help="history of the stores, days")
    p.add_argument("--entities", type=int, default=1000, help="watched entities in the stores")
    p.add_argument("--runs", type=int, help="repetitions of each measurement (5 full, 3 quick)")
    p.add_argument("--feeds", type=int, default=200, help="feeds served for the ingest benchmark")
    p.add_argument("--items", type=int, default=50, help="items per served feed")
    p.add_argument("--aliases", type=int, default=1000, help="watchlist names for ingestion")
    p.add_argument("--reader-workers", type=int, default=16, help="reader's update_feeds workers")
    p.add_argument("--match-aliases", type=int, default=10_000)
    p.add_argument("--match-articles", type=int)
    p.add_argument("--sustained-rounds", type=int, help="polls of new items into the main store")
    p.add_argument("--sessions", type=int, help="concurrent dashboard sessions")
    p.add_argument(
        "--store-dirs", default=str(OUT / "stores"),
        help="scale, cold, sessions: folders (separated by ':') holding stores built by "
        "bench/build_store.py, searched in order; they are only read",
    )  # fmt: skip
    p.add_argument(
        "--scale-sizes", default="200000,1000000,2000000",
        help="scale, cold: the store sizes (articles) to measure and fit",
    )  # fmt: skip
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    p.add_argument(
        "--no-write", action="store_true",
        help="print only; leave docs/ and bench/out/last-run.json alone",
    )  # fmt: skip
    p.add_argument(
        "--merge", action="store_true",
        help="keep the rows of the sections not measured now from bench/out/last-run.json",
    )  # fmt: skip
    p.add_argument(
        "--rerender", action="store_true",
        help="measure nothing: rewrite the output from bench/out/last-run.json",
    )  # fmt: skip
    args = p.parse_args(argv)
    sizes = FULL if args.full else QUICK
    args.mode = "full" if args.full else "quick"
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.sections = tuple(s.strip() for s in args.only.split(",")) if args.only else SECTIONS
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


# --------------------------------------------------------------------------------------------
# Matching


def section_match(args: argparse.Namespace, res: Results) -> None:
    size = f"{args.match_aliases:,} aliases, {count(args.match_articles)} articles"
    figure = "matching, ~600-char articles, one core"
    target = ">= 80,000 articles/s, or within 1.3x of the bare scan"
    try:
        data = run_worker(
            "bench_match",
            [
                "--aliases",
                str(args.match_aliases),
                "--articles",
                str(args.match_articles),
                "--json",
            ],
            cpus={0},
        )
    except RuntimeError as exc:
        res.skip("match", figure, size, target, str(exc).splitlines()[0])
        return
    rate, scan = data["articles_per_s"], data["scan_articles_per_s"]
    res.add(Row(
        "match", figure, size,
        f"{rate:,} articles/s ({data['scan_ratio']}x the bare scan's {scan:,}/s)",
        target, rate >= 80_000 or data["scan_ratio"] <= 1.3,
        f"Matcher.count(title, text) pinned to one CPU, median of 3 passes; the bare scan is "
        f"the matcher's own automaton over the same text folded beforehand, every overlapping "
        f"occurrence, nothing else ({data['scan_hits'] / data['articles']:.1f} hits and "
        f"{data['mentions'] / data['articles']:.1f} mentions per article); with the folding "
        f"timed it makes {data['fold_scan_articles_per_s']:,}/s ({data['fold_scan_ratio']}x); "
        f"{data['mean_chars']} chars/article; automaton built in {data['build_seconds']} s",
        rate,
    ))  # fmt: skip


# --------------------------------------------------------------------------------------------
# Ingestion: our poller vs reader, same server, same run


class FeedServer:
    """bench/feedserver.py in a subprocess: started, read, stopped."""

    def __init__(self, *extra: str):
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "bench.feedserver", *extra],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self.proc.wait()
            raise RuntimeError("the feed server did not start")
        self.info = json.loads(line)
        self.base_url: str = self.info["base_url"]
        self.paths: list[str] = self.info["paths"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def ingest_watchlist(aliases: int) -> list[Any]:
    from bench.world import NOW, synthetic_entities
    from monitor.demo.world import World

    base = World.generate(seed=1, days=1, outlets=1, articles_per_day=0, now=NOW).entities
    return base + synthetic_entities(aliases, seed=5, existing=base)


def section_ingest(args: argparse.Namespace, res: Results) -> None:
    from bench.world import write_feeds_yaml

    size = f"{args.feeds} feeds x {args.items} items, {args.aliases:,} aliases"
    days = max(14, -(-args.items * 4 // 15))  # enough history for every feed to fill its limit
    server = FeedServer(
        "--outlets", str(args.feeds), "--limit", str(args.items), "--days", str(days),
        "--per-day", "3000",
    )  # fmt: skip
    entities = ingest_watchlist(args.aliases)
    folder = OUT / "scratch" / "ingest"
    runs: dict[str, list[dict[str, Any]]] = {"monitor": [], "reader": []}
    try:
        feeds = [(f"feed {i}", server.base_url + p, []) for i, p in enumerate(server.paths)]
        for run in range(args.runs):
            order = ("monitor", "reader") if run % 2 == 0 else ("reader", "monitor")
            for tool in order:
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                if tool == "monitor":
                    cfg = write_feeds_yaml(
                        folder / "feeds.yaml", store=folder / "data", feeds=feeds,
                        entities=entities, per_host=16, concurrency=16,
                    )  # fmt: skip
                    data = run_worker("bench_ingest", ["monitor", "--config", str(cfg)])
                else:
                    urls = folder / "urls.txt"
                    urls.write_text("\n".join(u for _, u, _ in feeds))
                    data = run_worker(
                        "bench_ingest",
                        ["reader", "--db", str(folder / "reader.sqlite"), "--urls", str(urls),
                         "--workers", str(args.reader_workers)],
                    )  # fmt: skip
                runs[tool].append(data)
                log(
                    f"ingest run {run + 1}/{args.runs} {tool}: cold {data['cold']:.2f} s, "
                    f"warm {data['warm']:.2f} s, {data['articles']:,} articles"
                )
    except RuntimeError as exc:
        res.skip("ingest", "cold ingest", size, ">= 5x faster than reader", str(exc)[:200])
        return
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    m, r = runs["monitor"], runs["reader"]
    for phase, target in (("cold", 5.0), ("warm", 2.0)):
        mt = median([x[phase] for x in m])
        rt = median([x[phase] for x in r])
        ratio = rt / mt
        what = (
            "cold ingest (fetch, parse, match, store)"
            if phase == "cold"
            else "warm pass, every feed unchanged (304)"
        )
        note = (
            f"monitor {secs(mt)} (CPU {median([x[phase + '_cpu'] for x in m]):.1f} s), "
            f"reader {secs(rt)} (CPU {median([x[phase + '_cpu'] for x in r]):.1f} s, "
            f"workers={args.reader_workers}); runs: monitor "
            + ", ".join(f"{x[phase]:.2f}" for x in m)
            + " / reader "
            + ", ".join(f"{x[phase]:.2f}" for x in r)
        )
        if phase == "cold":
            note += (
                f"; stored: monitor {m[0]['articles']:,} articles + {m[0]['mentions']:,} mentions,"
                f" reader {r[0]['articles']:,} entries"
            )
        else:
            note += f"; monitor saw {m[0]['warm_unchanged']} of {m[0]['feeds']} unchanged"
        res.add(Row(
            "ingest", what, size, f"{ratio:.1f}x faster than reader ({secs(mt)} vs {secs(rt)})",
            f">= {target:g}x faster than reader", ratio >= target, note, ratio,
        ))  # fmt: skip


# --------------------------------------------------------------------------------------------
# Stories, tone and names (issue 13)


def section_analyses(args: argparse.Namespace, res: Results) -> None:
    size = f"{count(args.match_articles)} ingest-world articles"
    try:
        d = run_worker("bench_analyses", ["--articles", str(args.match_articles)], cpus={0})
    except RuntimeError as exc:
        res.skip("analyses", "stories, tone and names", size, "", str(exc).splitlines()[0])
        return
    q = d["quality"]
    a = q["all"]
    buckets = "; ".join(
        f"{k}: {v['pairs']} pairs, P {v['precision']:.3f}, R {v['recall']:.3f}"
        for k, v in q.items()
        if k != "all"
    )
    res.add(Row(
        "analyses", "stories: precision / recall on the labelled pairs",
        f"{a['pairs']} pairs ({a['copies']} copies)",
        f"P {a['precision']:.3f} / R {a['recall']:.3f}", "P >= 0.97, R >= 0.90",
        a["precision"] >= 0.97 and a["recall"] >= 0.90,
        f"tests/data/stories (seeded generator + hand-written hard cases); by the shorter "
        f"text: {buckets}",
        a["recall"],
    ))  # fmt: skip
    note = (
        f"one core, CPU time, best of 3; {d['mean_chars']} chars/article; counting alone "
        f"{d['count_per_s']:,.0f}/s"
    )
    res.add(Row(
        "analyses", "stories: assignment (MinHash + LSH + check)", size,
        f"{d['stories_per_s']:,.0f} articles/s", "", None,
        f"{note}; {d['articles']:,} articles made {d['stories_formed']:,} stories (the "
        f"synthetic world reuses sentences, so unrelated articles share text: more LSH "
        f"candidates than real news); index {d['index_bytes_per_article']:,} bytes/article; "
        f"rebuilding it from the store's last 3 days ({d['seeded']:,} articles): "
        f"{d['seed_per_s']:,.0f} articles/s",
        d["stories_per_s"],
    ))  # fmt: skip
    res.add(Row(
        "analyses", "names: extraction", size, f"{d['names_per_s']:,.0f} articles/s", "", None,
        note, d["names_per_s"],
    ))  # fmt: skip
    res.add(Row(
        "analyses", "tone: VADER on the sentences holding mentions", size,
        f"{d['tone_per_s_of_articles_with_mentions']:,.0f} articles/s "
        f"({d['tone_uncached_per_s']:,.0f} uncached)", "", None,
        f"of the {d['with_mentions']:,} articles with mentions; the sentence cache helps "
        f"syndicated copies (and this world's repeated sentences: uncached is the figure for "
        f"text never seen)",
        d["tone_per_s_of_articles_with_mentions"],
    ))  # fmt: skip
    res.add(Row(
        "analyses", "all analyses of one article (count, tone, story, names)", size,
        f"{d['enrich_per_s_tone_on']:,.0f} articles/s "
        f"({d['enrich_per_s_tone_off']:,.0f} without tone)", "", None,
        note, d["enrich_per_s_tone_on"],
    ))  # fmt: skip
    section_ingest_analyses(args, res)


def section_ingest_analyses(args: argparse.Namespace, res: Results) -> None:
    """The cold ingest of the ingest section (our poller only), with and without tone."""
    from bench.world import write_feeds_yaml

    size = f"{args.feeds} feeds x {args.items} items, {args.aliases:,} aliases"
    days = max(14, -(-args.items * 4 // 15))
    figure = "cold ingest with stories and names{}"
    try:
        server = FeedServer(
            "--outlets", str(args.feeds), "--limit", str(args.items), "--days", str(days),
            "--per-day", "3000",
        )  # fmt: skip
    except RuntimeError as exc:
        res.skip("analyses", figure.format(""), size, ">= 2,500 articles/s", str(exc))
        return
    entities = ingest_watchlist(args.aliases)
    folder = OUT / "scratch" / "ingest-analyses"
    runs: dict[str, list[dict[str, Any]]] = {"tone": [], "no-tone": []}
    try:
        feeds = [(f"feed {i}", server.base_url + p, []) for i, p in enumerate(server.paths)]
        for run in range(args.runs):
            for mode in ("tone", "no-tone") if run % 2 == 0 else ("no-tone", "tone"):
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                cfg = write_feeds_yaml(
                    folder / "feeds.yaml", store=folder / "data", feeds=feeds,
                    entities=entities, per_host=16, concurrency=16,
                )  # fmt: skip
                extra = ["--no-tone"] if mode == "no-tone" else []
                runs[mode].append(
                    run_worker("bench_ingest", ["monitor", "--config", str(cfg), *extra])
                )
    except RuntimeError as exc:
        res.skip("analyses", figure.format(""), size, ">= 2,500 articles/s", str(exc)[:200])
        return
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    for mode, label in (("no-tone", " (--no-tone)"), ("tone", " and tone")):
        rs = runs[mode]
        rate = median([r["articles"] / r["cold"] for r in rs])
        res.add(Row(
            "analyses", figure.format(label), size, f"{rate:,.0f} articles/s",
            ">= 2,500 articles/s", rate >= 2500,
            "the ingest section's cold pass (our poller only): "
            + ", ".join(f"{r['cold']:.2f} s (CPU {r['cold_cpu']:.1f} s)" for r in rs)
            + f"; {rs[0]['articles']:,} articles",
            rate,
        ))  # fmt: skip


# --------------------------------------------------------------------------------------------
# Full text (issue 16): reading article pages


def section_pages(args: argparse.Namespace, res: Results) -> None:
    figure = "page extraction (trafilatura), one core"
    for heavy, pages, size in ((False, 2000, "demo pages"), (True, 300, "news-site-sized pages")):
        extra = ["--heavy"] if heavy else []
        try:
            d = run_worker("bench_pages", ["extract", "--pages", str(pages), *extra], cpus={0})
        except RuntimeError as exc:
            res.skip("pages", figure, size, "", str(exc).splitlines()[0])
            continue
        res.add(Row(
            "pages", figure, f"{d['pages']:,} {size} of ~{d['mean_kb']:.0f} KB",
            f"{d['pages_per_s']:,} pages/s ({d['ms_per_page']} ms a page)", "", None,
            "monitor.extract.read_page (charset, trafilatura fast + favor_precision, title "
            "line, too-little-text rule) on demo-world article pages"
            + (" inflated with a news site's markup (400-link menus, inline state and styles)"
               if heavy else " (the article amid navigation, boxes, comments, a cookie banner)")
            + "; CPU time, best of 3, pinned to one CPU",
            d["pages_per_s"],
        ))  # fmt: skip
    figure = "pages read end to end (robots.txt, fetch, extract in the worker process)"
    server = None
    try:
        server = subprocess.Popen(
            [PYTHON, "-m", "bench.bench_pages", "serve", "--days", "3"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = server.stdout.readline() if server.stdout else ""
        if not line:
            raise RuntimeError("the page server did not start")
        base = json.loads(line)["base_url"]
        runs = [
            run_worker("bench_pages", ["reader", "--server", base, "--days", "3"])
            for _ in range(args.runs)
        ]
    except RuntimeError as exc:
        res.skip("pages", figure, "demo pages", "", str(exc).splitlines()[0])
        return
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    rate = median([r["pages_per_s"] for r in runs])
    poller = median([r["cpu_ms_poller"] for r in runs])
    worker = median([r["cpu_ms_worker"] for r in runs])
    res.add(Row(
        "pages", figure, f"{runs[0]['pages']:,} demo pages, local server",
        f"{rate:,.0f} pages/s", "", None,
        f"monitor.pages.PageReader (8 at once, 8 per host) against the demo server in a process "
        f"of its own on 127.0.0.1, {runs[0]['workers']} extraction worker(s); runs: "
        + ", ".join(f"{r['pages_per_s']} pages/s in {r['seconds']} s" for r in runs),
        rate,
    ))  # fmt: skip
    res.add(Row(
        "pages", "cost of an article read in full (CPU)", "the same pages",
        f"{poller + worker:.1f} ms ({poller:.1f} poller + {worker:.1f} worker)", "", None,
        "CPU time per page: in the poller's process (robots.txt check, HTTP, passing the page to "
        "the worker and back) and in the extraction worker; counting mentions on the page "
        "and storing the row come on top (see the match and ingest rows)",
        poller + worker,
    ))  # fmt: skip


# --------------------------------------------------------------------------------------------
# Stores: build (cached), then the dashboard's questions


def build(args: argparse.Namespace, articles: int) -> dict[str, Any]:
    log(f"store of {count(articles)} articles: building or reusing (cached under bench/out/)")
    started = time.perf_counter()
    meta = run_worker(
        "build_store",
        ["--articles", str(articles), "--days", str(args.days), "--entities", str(args.entities)],
        timeout=6 * 3600,
    )
    state = "reused" if meta["cached"] else f"built in {time.perf_counter() - started:.0f} s"
    log(
        f"store of {count(articles)} articles {state}: {meta['articles']:,} articles, "
        f"{meta['mentions']:,} mentions"
    )
    return meta


def store_label(meta: dict[str, Any]) -> str:
    articles, mentions = round(meta["articles"], -4), round(meta["mentions"], -4)
    return f"{count(articles)} articles / {count(mentions)} mentions"


def query_figures(meta: dict[str, Any], runs: int) -> dict[str, Any]:
    data = Path(meta["folder"]) / "data"
    warm = run_worker("bench_store", ["warm", "--store", str(data), "--runs", str(max(runs, 5))])
    fresh = [
        run_worker(
            "bench_store", ["fresh", "--store", str(data), "--plan", json.dumps(warm["plan"])]
        )
        for _ in range(runs)
    ]
    warm["fresh"] = fresh
    return warm


def section_queries(args: argparse.Namespace, res: Results) -> dict[str, Any] | None:
    try:
        meta = build(args, args.articles)
    except RuntimeError as exc:
        res.skip("queries", "store queries", count(args.articles), "", str(exc)[:200])
        return None
    label = store_label(meta)
    res.add(Row(
        "build", "build the store (generate, render, parse, match, store)", label,
        f"{secs(meta['build_seconds'])} ({meta['rate']:,} articles/s)", "", None,
        f"{meta['entities']:,} entities / {meta['aliases']:,} names, {meta['feeds']} feeds, "
        f"{meta['days']} days, {meta['disk_mb']:,} MB of Parquet; built {meta.get('built', '?')}"
        + (" (cached)" if meta["cached"] else ""),
        meta["build_seconds"],
    ))  # fmt: skip
    main = query_figures(meta, args.runs)
    add_query_rows(res, main, label, meta)
    if args.large_articles:
        try:
            large_meta = build(args, args.large_articles)
        except RuntimeError as exc:
            res.skip("queries", "large store", count(args.large_articles), "", str(exc)[:200])
            return {"meta": meta, "figures": main}
        large_label = store_label(large_meta)
        res.add(Row(
            "build", "build the large store", large_label,
            f"{secs(large_meta['build_seconds'])} ({large_meta['rate']:,} articles/s)", "", None,
            f"{large_meta['disk_mb']:,} MB of Parquet; built {large_meta.get('built', '?')}"
            + (" (cached)" if large_meta["cached"] else ""),
            large_meta["build_seconds"],
        ))  # fmt: skip
        large = query_figures(large_meta, args.runs)
        for name, (figure, _) in QUERY_TARGETS.items():
            a, b = main["seconds"][name], large["seconds"][name]
            res.add(Row(
                "large", figure.format(entities=f"{meta['entities']:,}") + ", warm",
                large_label, f"{secs(b)} = {b / a:.1f}x its {count(meta['articles'])} figure",
                "< 3x", b / a < 3, f"{secs(a)} at {count(meta['articles'])}", b / a,
            ))  # fmt: skip
        a = median([f["first_query"] for f in main["fresh"]])
        b = median([f["first_query"] for f in large["fresh"]])
        res.add(Row(
            "large", "timeline in a fresh process", large_label,
            f"{secs(b)} = {b / a:.1f}x its {count(meta['articles'])} figure", "< 3x", b / a < 3,
            f"{secs(a)} at {count(meta['articles'])}", b / a,
        ))  # fmt: skip
    return {"meta": meta, "figures": main}


def add_query_rows(res: Results, q: dict[str, Any], label: str, meta: dict[str, Any]) -> None:
    s = q["seconds"]
    for name, (figure, target) in QUERY_TARGETS.items():
        note = f"runs: {', '.join(secs(t) for t in q['all'][name])}; {q['rows'][name]:,} rows"
        if name == "normalized":
            note = (
                "the same call as the timeline: queries.timeline returns counts, totals and "
                "share at once (the Timeline view draws either from it); " + note
            )
        if name == "timeline":
            note = (
                f"queries.timeline (what the Timeline view runs); of which mention counts "
                f"{secs(s['counts'])} and article totals {secs(s['totals'])} alone; {note}"
            )
        if name == "article_page":
            note += (
                f"; entity {q['plan']['one'][0]!r}, {q['rows']['article_count']:,} articles "
                f"behind it; counting them: {secs(s['article_count'])}"
            )
        res.add(Row(
            "queries", figure.format(entities=f"{meta['entities']:,}") + ", warm", label,
            secs(s[name]), f"< {secs(target)}", s[name] < target, note, s[name],
        ))  # fmt: skip
    fresh = q["fresh"]
    first = median([f["first_query"] for f in fresh])
    wall = median([f["process_wall"] for f in fresh])
    imp = median([f["import"] for f in fresh])
    res.add(Row(
        "queries", "timeline in a fresh process (open the store + first query)", label,
        secs(first), "< 1 s", first < 1.0,
        f"whole process to the answer {secs(wall)} (interpreter start and imports "
        f"of monitor.queries {secs(imp)} included); OS file cache warm; runs: "
        + ", ".join(secs(f["first_query"]) for f in fresh),
        first,
    ))  # fmt: skip


# --------------------------------------------------------------------------------------------
# Sustained ingest into the big store


def hardlink_copy(src: Path, dst: Path) -> None:
    """A copy of a store sharing its (immutable) Parquet files; the manifest is copied."""
    shutil.rmtree(dst, ignore_errors=True)
    for path in src.rglob("*"):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.suffix == ".parquet":
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def section_sustained(args: argparse.Namespace, res: Results, meta: dict[str, Any] | None) -> None:
    from bench.build_store import watchlist
    from bench.world import write_feeds_yaml

    figure = "sustained ingest into the store (real poller, HTTP)"
    if meta is None:
        try:
            meta = build(args, args.articles)
        except RuntimeError as exc:
            res.skip("sustained", figure, count(args.articles), ">= 3,000 articles/s", str(exc))
            return
    label = f"into {count(round(meta['articles'], -4))} articles"
    rounds = args.sustained_rounds
    folder = OUT / "scratch" / "sustained"
    hardlink_copy(Path(meta["folder"]) / "data", folder / "data")
    watch, _ = watchlist(meta["entities"], 1)
    server = FeedServer(
        "--outlets", str(args.feeds), "--limit", str(args.items), "--rounds", str(rounds),
        "--step-hours", "96", "--days", str(4 * rounds + 14), "--per-day", "3000",
        "--seed", "23",
    )  # fmt: skip
    try:
        feeds = [(f"feed {i}", server.base_url + p, []) for i, p in enumerate(server.paths)]
        cfg = write_feeds_yaml(
            folder / "feeds.yaml", store=folder / "data", feeds=feeds, entities=watch
        )
        data = run_worker(
            "bench_ingest",
            ["sustained", "--config", str(cfg), "--server", server.base_url,
             "--rounds", str(rounds)],
            timeout=3600,
        )  # fmt: skip
    except RuntimeError as exc:
        res.skip("sustained", figure, label, ">= 3,000 articles/s", str(exc)[:200])
        return
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    polls = data["polls"]
    new = sum(p["new"] for p in polls)
    seconds = sum(p["seconds"] for p in polls)
    rate = new / seconds
    res.add(Row(
        "sustained", figure, label + f", {rounds} polls of {args.feeds} feeds",
        f"{rate:,.0f} articles/s", ">= 3,000 articles/s", rate >= 3000,
        f"{new:,} new articles in {secs(seconds)} (CPU {sum(p['cpu'] for p in polls):.1f} s);"
        " per poll: " + ", ".join(f"{p['new']:,} in {secs(p['seconds'])}" for p in polls)
        + f"; Poller.open() on the store (dedup index): {secs(data['open'])}",
        rate,
    ))  # fmt: skip
    res.add(Row(
        "sustained", "open the poller on the store (load the dedup index)", label,
        secs(data["open"]), "", None, "once per poller start; not part of the rate above",
        data["open"],
    ))  # fmt: skip


# --------------------------------------------------------------------------------------------
# The PostgreSQL store, beside the embedded one

# A throwaway cluster (tests/pgcluster.py) with the settings docs/deploy.md recommends for a
# small server: durable commits (fsync, synchronous_commit as default), memory for the
# dashboard's working set, no JIT (it adds ~50-100 ms of compiling to the dashboard's queries),
# and the WAL settings of a write-heavy server: a commit's index inserts land on random pages
# (article ids are hashes), so most write a full page image after each checkpoint; compressed,
# and checkpoints further apart, the WAL of 28,500 ingested articles went 348 -> 268 MB.
PG_SETTINGS = {
    "shared_buffers": "'1GB'",
    "effective_cache_size": "'8GB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'512MB'",
    "max_wal_size": "'8GB'",
    "checkpoint_timeout": "'30min'",
    "wal_compression": "lz4",
    "wal_buffers": "'64MB'",
    "random_page_cost": "1.1",
    "jit": "off",
}
# the targets of issue 11 at 2M articles, warm: query name -> (figure, target seconds)
PG_TARGETS = {
    "timeline": ("timeline: 5 entities x 90 days, daily", 0.100),
    "overview": ("overview of {entities} entities, change vs previous 90 days", 0.500),
    "article_page": ("one page of the article list behind a count", 0.100),
}
PG_INFO = {
    "normalized": "normalized timeline (share of all articles)",
    "co_mentions": "co-mention matrix of 20 entities, 90 days",
    "article_count": "count of the articles behind a count",
}


def section_postgres(args: argparse.Namespace, res: Results, stores: dict[str, Any] | None) -> None:
    from bench.build_store import watchlist
    from tests.pgcluster import Cluster

    figure = "PostgreSQL store"
    try:
        meta = stores["meta"] if stores else build(args, args.articles)
        embedded = stores["figures"] if stores else query_figures(meta, args.runs)
    except RuntimeError as exc:
        res.skip("postgres", figure, count(args.articles), "", str(exc)[:200])
        return
    label = store_label(meta)
    try:
        cluster = Cluster.start(settings=PG_SETTINGS, fast=False)
    except Exception as exc:  # no PostgreSQL installed here
        res.skip("postgres", figure, label, "", str(exc).splitlines()[0][:200])
        return
    try:
        url = cluster.create_database("bench")
        log(f"postgres: copying the {count(meta['articles'])}-article store into PostgreSQL")
        loaded = run_worker(
            "bench_pg",
            ["load", "--source", str(Path(meta["folder"]) / "data"), "--url", url],
            timeout=6 * 3600,
        )
        size = sum(loaded["bytes"].values())
        res.add(Row(
            "postgres", "load the store into PostgreSQL (monitor store copy)", label,
            f"{secs(loaded['copy_seconds'])} ({meta['articles'] / loaded['copy_seconds']:,.0f} "
            "articles/s)", "", None,
            f"counts equal: {loaded['equal']}; per table: "
            + ", ".join(f"{t} {secs(v)}" for t, v in loaded["tables_seconds"].items())
            + f"; then VACUUM ANALYZE {secs(loaded['vacuum_seconds'])}; "
            f"{size / 2**20:,.0f} MB in the database (tables and indexes) against "
            f"{meta['disk_mb']:,} MB of Parquet",
            loaded["copy_seconds"],
        ))  # fmt: skip
        warm = run_worker("bench_store", ["warm", "--store", url, "--runs", str(max(args.runs, 5))])
        s, e = warm["seconds"], embedded["seconds"]
        for name, (what, target) in PG_TARGETS.items():
            res.add(Row(
                "postgres", "PostgreSQL: " + what.format(entities=f"{meta['entities']:,}")
                + ", warm", label, secs(s[name]), f"< {secs(target)}", s[name] < target,
                f"embedded store: {secs(e[name])}; runs: "
                + ", ".join(secs(t) for t in warm["all"][name])
                + f"; {warm['rows'][name]:,} rows",
                s[name],
            ))  # fmt: skip
        for name, what in PG_INFO.items():
            res.add(Row(
                "postgres", f"PostgreSQL: {what}, warm", label, secs(s[name]), "", None,
                f"embedded store: {secs(e[name])}", s[name],
            ))  # fmt: skip
        watch, _ = watchlist(meta["entities"], 1)
        for pollers in (1, 2):
            copy = f"bench_sustained_{pollers}"
            cluster.sql(f'CREATE DATABASE "{copy}" TEMPLATE "bench"')
            _pg_sustained(args, res, cluster.url(copy), pollers, watch, label)
    except RuntimeError as exc:
        res.skip("postgres", figure, label, "", " ".join(str(exc).split())[:300])
    finally:
        cluster.stop()


def _pg_sustained(
    args: argparse.Namespace, res: Results, url: str, pollers: int, watch: Any, label: str
) -> None:
    from bench.world import write_feeds_yaml

    rounds = args.sustained_rounds
    figure = f"PostgreSQL: sustained ingest, {pollers} poller{'s' * (pollers > 1)} (HTTP)"
    target = ">= 2,000 articles/s" if pollers == 2 else ""
    folder = OUT / "scratch" / f"pg-sustained-{pollers}"
    server = FeedServer(
        "--outlets", str(args.feeds), "--limit", str(args.items), "--rounds", str(rounds),
        "--step-hours", "96", "--days", str(4 * rounds + 14), "--per-day", "3000",
        "--seed", "23",
    )  # fmt: skip
    try:
        feeds = [(f"feed {i}", server.base_url + p, []) for i, p in enumerate(server.paths)]
        cfg = write_feeds_yaml(
            folder / "feeds.yaml",
            store=url,
            feeds=feeds,
            entities=watch,  # type: ignore[arg-type]
        )
        data = run_worker(
            "bench_pg",
            ["sustained", "--config", str(cfg), "--server", server.base_url,
             "--rounds", str(rounds), "--pollers", str(pollers),
             "--feed-server-pid", str(server.proc.pid)],
            timeout=3600,
        )  # fmt: skip
    except RuntimeError as exc:
        res.skip("postgres", figure, label, target, " ".join(str(exc).split())[:300])
        return
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    rounds_ = data["rounds"]
    new = sum(p["new"] for r in rounds_ for p in r["pollers"])
    wall = sum(r["wall"] for r in rounds_)
    rate = new / wall
    cpu = sum(p["cpu"] for r in rounds_ for p in r["pollers"])
    shares = [sum(r["pollers"][i]["feeds"] for r in rounds_) for i in range(pollers)]
    # CPU per article of every process taking part, all rounds: robust to other work
    kinds: dict[str, float] = {}
    for r in rounds_:
        for kind, t in r.get("cpu", {}).items():
            kinds[kind] = kinds.get(kind, 0.0) + t
    per = {k: 1000 * t / max(new, 1) for k, t in sorted(kinds.items(), key=lambda kv: -kv[1])}
    total = sum(per.values())
    split = ", ".join(f"{k} {v:.3f}" for k, v in per.items() if v >= 0.001)
    rates = [sum(p["new"] for p in r["pollers"]) / r["wall"] for r in rounds_]
    res.add(Row(
        "postgres", figure, f"into {label}, {rounds} rounds of {args.feeds} feeds",
        f"{rate:,.0f} articles/s", target, (rate >= 2000) if target else None,
        f"{new:,} new articles in {secs(wall)} of wall time (pollers' CPU {cpu:.1f} s); per "
        "round: " + ", ".join(f"{sum(p['new'] for p in r['pollers']):,} in {secs(r['wall'])}"
                              for r in rounds_)
        + f" (median {median(rates):,.0f}/s; load average "
        + ", ".join(f"{r.get('load', 0):.1f}" for r in rounds_)
        + f"); CPU per article, ms: {total:.2f} ({split}), so two free cores would do "
        f"{2000 / total:,.0f}/s; feeds polled by each poller: {shares}; indexes read into "
        f"the OS cache first: {data['prewarm']['mb']:,.0f} MB in "
        f"{secs(data['prewarm']['seconds'])}; Poller.open(): "
        + ", ".join(secs(t) for t in data["open"])
        + "; warm-up before the first round (story index, parse worker; not in the rate): "
        + ", ".join(secs(t) for t in data.get("warm_up", []))
        + "; each poller's wait on its own commits per round: "
        + " / ".join(", ".join(secs(p.get("commits", 0.0)) for p in r["pollers"])
                     for r in rounds_),
        rate,
    ))  # fmt: skip


# --------------------------------------------------------------------------------------------
# The dashboard


DASH_FIGURES = (
    ("dashboard server memory after every view was opened", "< 600 MB RSS"),
    ("real browser: first (uncached) open of each view, after a commit", "<= floor + 0.5 s"),
    ("real browser: shared link to a fully drawn page, server warm", "<= floor + 0.5 s"),
    ("real browser: change a filter, chart redrawn", "< 1.5 s"),
    ("{n} concurrent dashboard sessions in one browser", "every session renders"),
)


def writable_copy(meta: dict[str, Any], name: str) -> Path:
    """A copy of the built store (sharing its immutable Parquet files) that the dashboard
    benchmark may commit to; its feeds.yaml."""
    folder = OUT / "scratch" / name
    hardlink_copy(Path(meta["folder"]) / "data", folder / "data")
    text = (Path(meta["folder"]) / "feeds.yaml").read_text()
    store_line = next(line for line in text.splitlines() if line.startswith("store:"))
    cfg = folder / "feeds.yaml"
    cfg.write_text(text.replace(store_line, f"store: {json.dumps(str(folder / 'data'))}"))
    return cfg


def section_dashboard(
    args: argparse.Namespace, res: Results, stores: dict[str, Any] | None
) -> None:
    label = count(args.articles) + " articles"
    n = args.sessions

    def skip_all(reason: str) -> None:
        for figure, target in DASH_FIGURES:
            res.skip("dashboard", figure.format(n=n), label, target, reason)

    if not (ROOT / "dashboard.py").exists():
        skip_all("dashboard.py does not exist yet")
        return
    if not Path("/usr/bin/chromium").exists():
        skip_all("no Chromium at /usr/bin/chromium")
        return
    try:
        meta = stores["meta"] if stores else build(args, args.articles)
        plan = stores["figures"]["plan"] if stores else query_figures(meta, 1)["plan"]
    except RuntimeError as exc:
        skip_all(str(exc)[:200])
        return
    label = store_label(meta)
    try:
        cfg = writable_copy(meta, "dashboard")  # the benchmark commits to it
        d = run_worker(
            "bench_dashboard",
            ["--config", str(cfg), "--entities", ",".join(plan["five"]),
             "--runs", str(max(args.runs, 5)), "--sessions", str(n)],
            timeout=3600,
        )  # fmt: skip
    except (RuntimeError, OSError, StopIteration) as exc:
        skip_all(" ".join(str(exc).split())[:300])
        return
    finally:
        shutil.rmtree(OUT / "scratch" / "dashboard", ignore_errors=True)
    dashboard_rows(res, d, label, n)
    session_rows(res, d, label, "dashboard")


def dashboard_rows(res: Results, d: dict[str, Any], label: str, n: int) -> None:
    base = d.get("baseline")
    floor = median(base["shared_link_s"]) if base else None
    floor_link = (
        f"; floor: a minimal Streamlit app with the same range control and one 5-line chart "
        f"takes {secs(floor)} here"
        if floor is not None
        else ""
    )
    floor_change = (
        f"; floor (minimal app): {secs(median([t for _, t in base['filter_change_s']]))}"
        if base
        else ""
    )
    peak = max(d["rss_after_views_mb"], d["rss_after_sessions_mb"], d["rss_final_mb"])
    first, server = d["first_open_s"], d["first_open_server_s"]
    res.add(Row(
        "dashboard", DASH_FIGURES[0][0], label, f"{d['rss_after_views_mb']:,.0f} MB",
        DASH_FIGURES[0][1], d["rss_after_views_mb"] < 600,
        f"idle after start {d['rss_idle_mb']:,.0f} MB; after all the tests (incl. {n} "
        f"sessions) {peak:,.0f} MB",
        d["rss_after_views_mb"],
    ))  # fmt: skip
    # each first open against the minimal app's open right after it (the same load)
    floor_first = base.get("first_open_s", {}) if base else {}
    if floor_first:
        # the median of each open's difference with the floor's open right after it (older
        # results: one open each)
        gaps = d.get("first_open_above_s") or {
            v: first[v] - floor_first[v] for v in first if v in floor_first
        }
        worst = max(gaps, key=lambda v: gaps[v])
        above: float | None = gaps[worst]
        floor_first_note = "; the minimal app opened right after each: " + ", ".join(
            f"{v} {secs(t)}" for v, t in floor_first.items()
        )
    else:
        gaps: dict[str, float] = {}
        worst = max(first, key=lambda v: first[v])
        above = first[worst] - floor if floor is not None else None
        floor_first_note = ""
    res.add(Row(
        "dashboard", DASH_FIGURES[1][0], label,
        f"slowest above its floor: {worst} {secs(first[worst])}"
        + (f" = floor + {secs(above)}" if above is not None else ""),
        DASH_FIGURES[1][1], above <= 0.5 if above is not None else None,
        "each view by a shared link in a fresh browser context, right after an (empty) commit "
        "to the store, so every cached query misses, as after each poll; in the browser, to "
        "fully drawn (its script run in the server)"
        + (f", medians of {len(next(iter(d['first_open_runs_s'].values())))} opens"
           if d.get("first_open_runs_s") else "")
        + ": "
        + ", ".join(
            f"{v} {secs(t)} ({secs(server[v])}"
            + (f"; {gaps[v]:+.2f} s above the floor" if v in gaps else "") + ")"
            for v, t in first.items()
        )
        + f"; the server process's first run (imports, store opened), once after a start: "
        f"{secs(d['first_run_s'])}" + floor_first_note + floor_link,
        above,
    ))  # fmt: skip
    shared = median(d["shared_link_s"])
    # the runs alternate with the minimal app's: the median of the pairs' differences
    pairs = list(zip(d["shared_link_s"], base["shared_link_s"], strict=False)) if base else []
    gap = median([a - b for a, b in pairs]) if pairs else None
    res.add(Row(
        "dashboard", DASH_FIGURES[2][0], label,
        secs(shared) + (f" = floor + {secs(gap)}" if gap is not None else ""),
        DASH_FIGURES[2][1] if gap is not None else "< 4 s",
        gap <= 0.5 if gap is not None else shared < 4,
        f"timeline view, 5 entities, 90 days ({d['shared_link_url'][:60]}...), a fresh browser "
        "context each time, alternating with the minimal app (floor + x: the median of the "
        "runs' differences); runs: " + ", ".join(secs(t) for t in d["shared_link_s"])
        + f"; server start to healthy: {secs(d['server_boot_s'])}" + floor_link,
        shared,
    ))  # fmt: skip
    changes = d["filter_change_s"]
    change = median([t for _, t in changes])
    res.add(Row(
        "dashboard", DASH_FIGURES[3][0], label, secs(change), DASH_FIGURES[3][1], change < 1.5,
        "date range clicked in the sidebar, until the chart shows the new data; runs: "
        + ", ".join(f"{c} {secs(t)}" for c, t in changes)
        + f" (max {secs(max(t for _, t in changes))})" + floor_change,
        change,
    ))  # fmt: skip
    s = d["sessions"]
    times = [t for _, t in s["results"] if isinstance(t, float)]
    failed = [f"{v}: {t}" for v, t in s["results"] if not isinstance(t, float)]
    res.add(Row(
        "dashboard", DASH_FIGURES[4][0].format(n=n), label,
        f"{s['rendered']}/{n} rendered", DASH_FIGURES[4][1], s["rendered"] == n,
        f"all views (links to each of the 7 in turn) opened at once from {n} contexts of one "
        f"headless Chromium on the same 2 cores: all drawn after {secs(s['wall_s'])}"
        + (f" (per session: median {secs(statistics.median(times))}, max {secs(max(times))})"
           if times else "")
        + f"; server CPU {s['server_cpu_s']:.1f} s in all"
        + (f"; failed: {'; '.join(failed)[:300]}" if failed else ""),
        s["rendered"],
    ))  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q`th percentile (0 < q <= 100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * q / 100) - 1)]


def session_rows(res: Results, d: dict[str, Any], label: str, section: str) -> None:
    """The server side of the concurrent sessions, without a browser (issue 14): time per
    script run, CPU per session, memory with the sessions open."""
    for key, when in (
        ("ws_sessions", "the views' queries cached"),
        ("ws_sessions_commit", "right after a commit (every query a miss)"),
    ):
        s = d[key]
        n = s["n"]
        full = [r for r in s["script_runs"] if not r["fragment"]]
        figure = f"{n} concurrent sessions, server side, {when}: time per script run"
        failed = [f"{v}: {t}" for v, t in s["results"] if not isinstance(t, float)]
        if not full:
            res.skip(section, figure, label, "p95 <= 2 s", "no script run was timed in the server")
            continue
        walls = [r["wall"] for r in full]
        p50, p95 = percentile(walls, 50), percentile(walls, 95)
        cpus = [r["cpu"] for r in full]
        res.add(Row(
            section, figure, label, f"p50 {secs(p50)}, p95 {secs(p95)}", "p95 <= 2 s",
            p95 <= 2 and not failed,
            f"{n} websocket sessions opened at once (no browser: each sends the rerun message a "
            f"browser tab sends for a link to one of the 7 views, in turn, and waits for the "
            f"run to finish); {len(full)} script runs (max {secs(max(walls))}), all finished "
            f"after {secs(s['wall_s'])}; CPU of the script thread per run: median "
            f"{secs(median(cpus))}, p95 {secs(percentile(cpus, 95))}; server CPU (all its "
            f"threads) {s['server_cpu_s']:.2f} s = {s['server_cpu_per_session_s']:.2f} s per "
            "session; each run timed inside the server (bench/sitehooks/sitecustomize.py "
            "wraps Streamlit's ScriptRunner)"
            + (f"; failed: {'; '.join(failed)[:300]}" if failed else ""),
            p95,
        ))  # fmt: skip
    rss = d["rss_after_sessions_mb"]
    n = d["ws_sessions"]["n"]
    res.add(Row(
        section, f"dashboard server memory with {n} sessions open", label, f"{rss:,.0f} MB",
        "<= 600 MB RSS", rss <= 600,
        f"RSS with the {n} sessions still open; idle after start "
        f"{d['rss_idle_mb']:,.0f} MB, after every view opened once "
        f"{d['rss_after_views_mb']:,.0f} MB",
        rss,
    ))  # fmt: skip


def section_sessions(args: argparse.Namespace, res: Results) -> None:
    """`--sessions` concurrent dashboard sessions on the main store, the server side apart."""
    from bench.bench_scale import find_stores

    n = args.sessions
    label = count(args.articles) + " articles"
    if not (ROOT / "dashboard.py").exists():
        res.skip("sessions", f"{n} concurrent sessions", label, "", "no dashboard")
        return
    found = find_stores(
        [Path(d) for d in args.store_dirs.split(":")], [args.articles], args.days, args.entities
    )[0]
    folder = OUT / "scratch" / "sessions"
    try:
        meta = (
            found["meta"] | {"folder": found["folder"]}
            if found["complete"]
            else build(args, args.articles)
        )
        cfg = writable_copy(meta, "sessions")  # the built store is only read
        plan = run_worker("bench_store", ["warm", "--store", str(folder / "data"), "--runs", "1"])
        d = run_worker(
            "bench_dashboard",
            ["--config", str(cfg), "--entities", ",".join(plan["plan"]["five"]),
             "--runs", "1", "--sessions", str(n), "--sessions-only"],
            timeout=3600,
        )  # fmt: skip
    except (RuntimeError, OSError, StopIteration) as exc:
        res.skip(
            "sessions", f"{n} concurrent sessions", label, "", " ".join(str(exc).split())[:300]
        )
        return
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    session_rows(res, d, store_label(meta), "sessions")
    res.add(Row(
        "sessions", "the dashboard process's first script run", store_label(meta),
        secs(d["first_run_s"]), "", None,
        "once after the server starts: the app's imports and the store opened (a websocket "
        f"session; {secs(d['first_run_server_s'])} inside the server)",
        d["first_run_s"],
    ))  # fmt: skip


# --------------------------------------------------------------------------------------------
# Report


def table(rows: list[Row]) -> str:
    lines = [
        "| figure | size | measured | target | status |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.figure} | {r.size} | {r.shown} | {r.target or '-'} | {r.status} |")
    return "\n".join(lines)


def notes(rows: list[Row]) -> str:
    out = []
    for i, r in enumerate(rows, 1):
        if r.note:
            out.append(f"{i}. **{r.figure}** ({r.size}): {r.note}")
    return "\n".join(out)


def report(args: argparse.Namespace, res: Results, mach: dict[str, str], load: list[float],
           command: str, elapsed: float) -> str:  # fmt: skip
    missed = [r for r in res.rows if r.ok is False]
    if args.mode == "full":
        mode = "Full sizes: the sizes of the targets."
    else:
        mode = (
            "Quick sizes (see the size column): the targets are those of the full sizes, so a "
            "quick pass is an early warning, not a verdict; `--full` measures at the sizes of "
            "the targets (it builds a 2M- and a 10M-article store the first time, cached under "
            "`bench/out/`)."
        )
    missed_text = f"{len(missed)} target{'s' if len(missed) != 1 else ''} missed" + (
        ": " + "; ".join(f"{r.figure} ({r.size})" for r in missed) if missed else ""
    )
    intro = textwrap.fill(
        f"The latest output of `{command}` (took {elapsed / 60:.0f} min; rerun it to refresh "
        f"this page). {mode} Figures are medians of {args.runs} or more runs; the peer "
        "(`reader`) is measured in the same run, against the same local feed server.",
        width=96,
    )
    return f"""# Benchmarks

{intro}

## Machine

| | |
|---|---|
| date | {mach["date"]} |
| CPU | {mach["cpu"]} |
| cores | {mach["cores"]} |
| memory | {mach["memory"]} |
| OS | {mach["os"]} |
| Python | {mach["python"]} |
| packages | {mach["packages"]} |
| load average (1 min) during the run | {min(load):.1f} to {max(load):.1f} |

## Results

{table(res.rows)}

{missed_text}.

## Notes

{notes(res.rows)}

## How it measures

- **Ingest**: `bench/feedserver.py` renders {args.feeds} demo-world feeds of {args.items} items
  (RSS 2.0, Atom and RSS 1.0, full content and summaries) up front and serves them from its own
  process on 127.0.0.1, with ETag / Last-Modified, 304 on a conditional GET, gzip when asked.
  Our side is the real `Poller(config).open()` + `poll_once()` with a {args.aliases:,}-name
  watchlist, `per_host: 16`, `concurrency: 16`; reader is `update_feeds(scheduled=False,
  workers={args.reader_workers})` after `add_feed` of every URL (untimed). Each run of each
  tool is a fresh process and a fresh store; the order of the two alternates between runs.
- **`poll --once` as a whole process** (`--only poll`, bench/bench_poll.py): the same feed
  server; `monitor poll --once` into a fresh store once (it keeps the validators), then timed
  as whole processes while every feed answers 304 (the server's counters check it), beside
  reader's warm pass (bench/bench_ingest.py) measured interleaved; then one run under
  `python -X importtime` and one under cProfile say where the process's time goes.
- **Stories, tone, names**: `bench/bench_analyses.py`: precision and recall of story grouping
  on the labelled pairs in `tests/data/stories`, and the speed of each analysis on one core on
  the ingest benchmark's articles; then the ingest section's cold pass (our poller only), with
  every analysis on, with and without tone.
- **Matching**: `bench/bench_match.py` (generated 10,000-name watchlist and ~600-character
  articles), pinned to one CPU. The bare scan beside it is the matcher's own automaton over
  the same text, folded beforehand: every overlapping occurrence, nothing else.
- **Pages** (full text): `bench/bench_pages.py`: `monitor.extract.read_page` on demo-world
  article pages (~5 KB) and on the same pages inflated to a news site's size (~120 KB),
  pinned to one CPU; then `monitor.pages.PageReader` reading every page of a 3-day demo world
  served by `monitor.demo.server` from a process of its own, with the CPU each page cost in the
  reading process and in the extraction worker (psutil). The ingest rows poll feeds alone
  (`full_text: false`).
- **Stores**: `bench/build_store.py` generates {args.days} days of demo-world history (plus
  ~{args.entities:,} synthetic watched entities with a Zipf-like popularity, named in the text),
  renders each feed's new items as a feed document, parses it with `monitor.parse`, makes
  articles with `monitor.poll.make_article`, counts with `monitor.match.Matcher` and stores with
  `monitor.store.Writer` in commits of 50,000 articles (compaction included). Queries are
  `monitor.queries` on a `Store.snapshot()`, over the 90 days ending at the last article, for the
  most mentioned entities in them: warm = median after one unmeasured run, in one process;
  fresh = a new process per run. Both stores span the same {args.days} days, so the large one
  has {args.large_articles / max(args.articles, 1):g}x the articles per day, and each 90-day
  question touches that many times the rows.
- **Scale** (`--only scale`, bench/bench_scale.py): the stores already built at 200k, 1M and
  2M (`--store-dirs`; only read): bytes per article on disk (the manifest's live files) and in
  memory (RSS of a fresh process holding a snapshot after each view's question once); each
  question's fastest run in two fresh processes per store, fitted against the articles
  stored (power law and straight line), extrapolated to 10M and 100M beside round 1's
  measured 2M-to-10M growth; PostgreSQL's 200k and 2M figures (docs/deploy.md) grown the
  same way. Predictions, not measurements.
- **Cold open** (`--only cold`): the largest store copied to /tmp, the OS cache dropped
  (`/proc/sys/vm/drop_caches`, else `posix_fadvise` on the copy; `fincore` checks it), then
  the first question of a fresh process, beside a fresh process with the cache warm.
- **Sustained ingest**: a hard-linked copy of the main store, polled by the real poller over
  HTTP {args.sustained_rounds} times, each poll against feeds advanced by four days (~50 new
  items per feed).
- **Dashboard**: `streamlit run dashboard.py` with `MONITOR_CONFIG` pointing at the feeds.yaml
  of a copy of the store (sharing its Parquet files: the benchmark commits to it);
  Playwright drives `/usr/bin/chromium`; a page is drawn when the app is idle and
  connected and every plotly chart has its SVG and every table its canvas. Memory is the
  server's RSS (psutil). Each script run is timed inside the server by
  bench/sitehooks/sitecustomize.py (on the server's PYTHONPATH; it wraps Streamlit's
  ScriptRunner, the app is unchanged; `BENCH_PROFILE=DIR` adds each run's cProfile). The
  first open of each view comes right after an empty commit (a new snapshot, so every cached
  query misses, as after each poll), in a fresh browser context, with the server process
  warm (its first run, the imports, is reported apart). The floor is a minimal Streamlit app
  with the same range control and one 5-line plotly chart, warm. The server apart from the
  browsers (`--only sessions`, or within the dashboard section): the sessions are websocket
  clients sending the rerun message a browser tab sends for a link (no browser runs), all
  at once, once with the views' queries cached and once right after a commit; p50/p95 of
  the script runs, the process's CPU per session, its RSS with the sessions open. The
  browser sessions (one Chromium, on the same cores as the server) only check that every
  session renders.
"""


def rerender(output: Path) -> int:
    data = json.loads((OUT / "last-run.json").read_text())
    saved = data["args"]
    args = argparse.Namespace(**{**saved, "output": output})
    res = Results(rows=[Row(**r) for r in data["rows"]])
    text = report(
        args, res, data["machine"], data.get("load") or [0.0],
        data.get("command") or f"python -m bench --{saved['mode']}", data.get("elapsed") or 0.0,
    )  # fmt: skip
    output.write_text(text)
    print(table(res.rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rerender:
        return rerender(args.output)
    started = time.perf_counter()
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    if command.strip() == "python -m bench":
        command = "python -m bench --quick"
    mach = machine()
    load = [os.getloadavg()[0]]
    res = Results()
    large = count(args.large_articles) if args.large_articles else "-"
    log(
        f"bench ({args.mode}): sections {', '.join(args.sections)}; "
        f"main store {count(args.articles)}, large {large}"
    )
    stores = None
    if "cli" in args.sections:
        from bench.bench_cli import section_cli

        section_cli(args, res)
        load.append(os.getloadavg()[0])
    if "match" in args.sections:
        section_match(args, res)
        load.append(os.getloadavg()[0])
    if "ingest" in args.sections:
        section_ingest(args, res)
        load.append(os.getloadavg()[0])
    if "poll" in args.sections:
        from bench.bench_poll import section_poll

        section_poll(args, res)
        load.append(os.getloadavg()[0])
    if "analyses" in args.sections:
        section_analyses(args, res)
        load.append(os.getloadavg()[0])
    if "pages" in args.sections:
        section_pages(args, res)
        load.append(os.getloadavg()[0])
    if "queries" in args.sections:
        stores = section_queries(args, res)
        load.append(os.getloadavg()[0])
    if "scale" in args.sections:
        from bench.bench_scale import section_scale

        section_scale(args, res)
        load.append(os.getloadavg()[0])
    if "cold" in args.sections:
        from bench.bench_scale import section_cold

        section_cold(args, res)
        load.append(os.getloadavg()[0])
    if "sustained" in args.sections:
        section_sustained(args, res, stores["meta"] if stores else None)
        load.append(os.getloadavg()[0])
    if "postgres" in args.sections:
        section_postgres(args, res, stores)
        load.append(os.getloadavg()[0])
    if "dashboard" in args.sections:
        section_dashboard(args, res, stores)
        load.append(os.getloadavg()[0])
    if "sessions" in args.sections:
        section_sessions(args, res)
        load.append(os.getloadavg()[0])
    elapsed = time.perf_counter() - started
    if args.merge:
        kept = [Row(**r) for r in json.loads((OUT / "last-run.json").read_text())["rows"]]
        kept = [r for r in kept if ROW_SECTIONS[r.section] not in args.sections]
        res.rows = sorted(kept + res.rows, key=lambda r: list(ROW_SECTIONS).index(r.section))
        command += f" (sections {', '.join(args.sections)}; the others from the run before)"
    text = report(args, res, mach, load, command, elapsed)
    print(table(res.rows))
    print("\n" + notes(res.rows))
    print(f"\nload average (1 min) during the run: {min(load):.1f} to {max(load):.1f}")
    missed = [r for r in res.rows if r.ok is False]
    print(
        f"\n{len(missed)} missed"
        + (": " + "; ".join(f"{r.figure} ({r.size})" for r in missed) if missed else "")
    )
    if args.no_write:
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "last-run.json").write_text(
        json.dumps({"machine": mach, "args": vars(args) | {"output": str(args.output)},
                    "rows": [r.__dict__ for r in res.rows], "load": load, "command": command,
                    "elapsed": elapsed}, indent=1, default=str)
    )  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
