"""Time the dashboard's questions (monitor.queries) on a large store.

Two modes, each meant to run in its own process:

    python -m bench.bench_store warm  --store DIR [--runs N] [--days 90]
    python -m bench.bench_store fresh --store DIR --plan JSON

`warm` first picks what to ask (the 90 days ending at the store's last article; the 5, 20 and 1
most-mentioned entities in them; untimed), then times each query: one unmeasured run, then the
median of `--runs`. It prints the timings and the plan as one JSON line. `fresh` answers the
timeline question (or `--query`) of a plan once, in a process that has touched neither DuckDB
nor the store: it reports the import time, the time to open the store's snapshot plus the
first query, and the process's wall time up to the answer.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

# The queries. Each takes (snapshot, plan) and returns something with a length.
QUERIES: dict[str, str] = {
    "timeline": "timeline of 5 entities x 90 days, daily (queries.timeline, what the view runs)",
    "counts": "its mention counts alone (queries.mention_counts by day)",
    "totals": "its denominator alone (queries.article_totals by day)",
    "normalized": "normalized timeline: the same queries.timeline call (counts and share)",
    "co_mentions": "co-mention matrix of 20 entities over 90 days",
    "overview": "overview of every watched entity, change vs previous 90 days",
    "article_page": "one page (50) of the articles behind a count (top entity, 90 days)",
    "article_count": "count of the articles behind that count",
    "names": "rising names of the last 30 days (queries.rising_names, `monitor names`)",
}


def _filters(plan: dict[str, Any], entities: list[str]) -> Any:
    from monitor.queries import Filters

    return Filters(
        start=datetime.fromisoformat(plan["start"]),
        end=datetime.fromisoformat(plan["end"]),
        entities=tuple(entities),
    )


def run_query(name: str, snap: Any, plan: dict[str, Any]) -> Any:
    from monitor import queries as q

    if name in ("timeline", "normalized"):
        return q.timeline(snap, _filters(plan, plan["five"]), by="day")
    if name == "counts":
        return q.mention_counts(snap, _filters(plan, plan["five"]), by="day")
    if name == "totals":
        return q.article_totals(snap, _filters(plan, plan["five"]), by="day")
    if name == "co_mentions":
        return q.co_mentions(snap, _filters(plan, plan["twenty"]))
    if name == "overview":
        return q.overview(snap, _filters(plan, []), trend_by="day")
    if name == "article_page":
        return q.articles(snap, _filters(plan, plan["one"]), limit=50)
    if name == "article_count":
        return q.count_articles(snap, _filters(plan, plan["one"]))
    if name == "names":
        end = datetime.fromisoformat(plan["end"])
        return q.rising_names(snap, q.Filters(start=end - timedelta(days=30), end=end))
    raise ValueError(name)


def make_plan(snap: Any, days: int) -> dict[str, Any]:
    from monitor.queries import Filters, mention_counts, time_bounds

    _, hi = time_bounds(snap)
    assert hi is not None, "the store is empty"
    end = datetime(hi.year, hi.month, hi.day) + timedelta(days=1)
    start = end - timedelta(days=days)
    top = mention_counts(snap, Filters(start=start, end=end))["entity"].tolist()
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": days,
        "five": top[:5],
        "twenty": top[:20],
        "one": top[:1],
        "articles": snap.rows("articles"),
        "mentions": snap.rows("mentions"),
        "entities": len(snap.watchlist),
        "layout": snap.details(),
    }


def warm(store: str, runs: int, days: int) -> dict[str, Any]:
    import statistics

    from monitor.store import open_store

    snap = open_store(store).snapshot()
    plan = make_plan(snap, days)
    out: dict[str, Any] = {"plan": plan, "seconds": {}, "all": {}, "rows": {}}
    for name in QUERIES:
        result = run_query(name, snap, plan)  # warm-up
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            result = run_query(name, snap, plan)
            times.append(time.perf_counter() - started)
        out["seconds"][name] = statistics.median(times)
        out["all"][name] = [round(t, 4) for t in times]
        out["rows"][name] = result if isinstance(result, int) else len(result)
    return out


def fresh(store: str, plan: dict[str, Any], query: str = "timeline") -> dict[str, Any]:
    before_import = time.perf_counter()
    import monitor.queries  # noqa: F401
    from monitor.store import open_store

    imported = time.perf_counter()
    snap = open_store(store).snapshot()
    df = run_query(query, snap, plan)
    answered = time.perf_counter()
    df2 = run_query("normalized", snap, plan)
    second = time.perf_counter()
    return {
        "import": imported - before_import,
        "first_query": answered - imported,
        "second_query": second - answered,
        "process_wall": answered - _STARTED,
        "rows": df if isinstance(df, int) else len(df),
        "rows2": len(df2),
    }


def main() -> None:
    from bench.common import emit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["warm", "fresh"])
    parser.add_argument("--store", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--plan", help="JSON plan from a warm run (fresh mode)")
    parser.add_argument("--query", default="timeline", choices=list(QUERIES), help="fresh mode")
    args = parser.parse_args()
    if args.mode == "warm":
        emit(warm(args.store, args.runs, args.days))
    else:
        emit(fresh(args.store, json.loads(args.plan), args.query))


if __name__ == "__main__":
    main()
