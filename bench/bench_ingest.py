"""One cold and one warm ingest of the served feeds, by our poller or by `reader`, in this process.

    python -m bench.bench_ingest monitor --config DIR/feeds.yaml
    python -m bench.bench_ingest reader  --db DIR/reader.sqlite --urls DIR/urls.txt --workers 16
    python -m bench.bench_ingest sustained --config DIR/feeds.yaml --server URL --rounds N

monitor: timed from building the `Poller` (the matcher over the watchlist included) through
`open()` and `poll_once()` to the last commit; then a second `poll_once()` on the same poller,
in the same event loop, as `monitor run` polls (every feed answers 304).
reader: the feeds are added untimed (the counterpart of writing feeds.yaml); then
`update_feeds(scheduled=False, workers=N)` is timed twice: cold, then warm (all 304).

sustained: our poller on a store that already holds many articles (its feeds.yaml must carry
the store's own watchlist, or opening it would recount every mention): `open()` is timed on its
own (it loads the dedup index), then `--rounds` polls, each after switching the feed server
(bench/feedserver.py) to its next round of newer items.

Prints one JSON line: seconds of each pass, CPU seconds of this process, entries stored.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any

from bench.common import emit


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def run_monitor(config_path: Path, tone: bool = True) -> dict[str, Any]:
    # Imported before the clock starts, as `monitor.poll` imported them itself until it took
    # them lazily (so that `poll --once` with nothing new needs none): this figure is the
    # ingest, not the process's start, as for `reader` below.
    import duckdb  # noqa: F401
    import numpy  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from monitor.config import load_config
    from monitor.poll import Poller

    config = load_config(config_path)

    async def both() -> tuple[Any, Any, list[float]]:  # one event loop, as `monitor run` has
        cpu0, t0 = _cpu(), time.perf_counter()
        poller.open()
        cold = await poller.poll_once()
        t1, cpu1 = time.perf_counter(), _cpu()
        warm = await poller.poll_once()
        t2, cpu2 = time.perf_counter(), _cpu()
        return cold, warm, [t0, t1, t2, cpu0, cpu1, cpu2]

    started = time.perf_counter()
    poller = Poller(config, tone=tone)
    built = time.perf_counter() - started
    cold, warm, (t0, t1, t2, cpu0, cpu1, cpu2) = asyncio.run(both())
    t0 -= built  # the Poller (and its matcher) is part of the cold figure
    snap = poller.store.snapshot()
    return {
        "cold": t1 - t0,
        "warm": t2 - t1,
        "cold_cpu": cpu1 - cpu0,
        "warm_cpu": cpu2 - cpu1,
        "feeds": len(config.feeds),
        "cold_ok": cold.ok,
        "cold_failed": cold.failed,
        "warm_unchanged": warm.unchanged,
        "warm_failed": warm.failed,
        "warm_new": warm.new_articles,
        "articles": snap.rows("articles"),
        "mentions": snap.rows("mentions"),
        "errors": cold.errors[:3] + warm.errors[:3],
    }


def run_sustained(config_path: Path, server: str, rounds: int) -> dict[str, Any]:
    import urllib.request

    from monitor.config import load_config
    from monitor.enrich import fingerprint as analyses_fingerprint
    from monitor.match import Matcher
    from monitor.poll import Poller
    from monitor.store import open_store

    config = load_config(config_path)
    before = open_store(config.store).snapshot()
    if before.fingerprint != analyses_fingerprint(Matcher(config.watch)):
        raise SystemExit("the watchlist differs from the store's: opening would recount mentions")
    t0 = time.perf_counter()
    poller = Poller(config)
    poller.open()
    opened = time.perf_counter() - t0
    polls = []
    for r in range(rounds):
        urllib.request.urlopen(f"{server}/_bench/round/{r}").read()
        cpu0, t1 = _cpu(), time.perf_counter()
        summary = asyncio.run(poller.poll_once())
        polls.append(
            {
                "seconds": time.perf_counter() - t1,
                "cpu": _cpu() - cpu0,
                "new": summary.new_articles,
                "mentions": summary.new_mentions,
                "ok": summary.ok,
                "failed": summary.failed,
            }
        )
    after = poller.store.snapshot()
    return {
        "open": opened,
        "polls": polls,
        "articles_before": before.rows("articles"),
        "articles_after": after.rows("articles"),
        "files_after": {t: len(f) for t, f in after.files.items()},
    }


def run_reader(db: Path, urls: list[str], workers: int) -> dict[str, Any]:
    from reader import make_reader

    r = make_reader(str(db))
    for url in urls:
        r.add_feed(url)
    cpu0, t0 = _cpu(), time.perf_counter()
    r.update_feeds(scheduled=False, workers=workers)
    t1, cpu1 = time.perf_counter(), _cpu()
    entries = r.get_entry_counts().total
    r.update_feeds(scheduled=False, workers=workers)
    t2, cpu2 = time.perf_counter(), _cpu()
    broken = sum(1 for f in r.get_feeds() if f.last_exception)
    after = r.get_entry_counts().total
    r.close()
    return {
        "cold": t1 - t0,
        "warm": t2 - t1,
        "cold_cpu": cpu1 - cpu0,
        "warm_cpu": cpu2 - cpu1,
        "feeds": len(urls),
        "articles": entries,
        "warm_new": after - entries,
        "broken": broken,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tool", choices=["monitor", "reader", "sustained"])
    parser.add_argument("--server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--urls", type=Path)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--no-tone", action="store_true", help="monitor: poll without tone")
    args = parser.parse_args()
    if args.tool == "monitor":
        emit(run_monitor(args.config, tone=not args.no_tone))
    elif args.tool == "sustained":
        emit(run_sustained(args.config, args.server, args.rounds))
    else:
        emit(run_reader(args.db, args.urls.read_text().split(), args.workers))


if __name__ == "__main__":
    main()
