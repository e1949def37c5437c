"""The PostgreSQL store's figures: loading a benchmark store into it, and sustained ingest by
several pollers sharing it. (Its query figures come from bench_store.py, given the URL.)

    python -m bench.bench_pg load --source DIR/data --url URL
    python -m bench.bench_pg sustained --config CFG --server URL --rounds N --pollers K

load: `monitor.store.copy.copy_store` from the embedded store to the (empty) database, timed,
then VACUUM ANALYZE (what a team does once after `monitor store copy`), timed apart.

sustained: K worker processes, each a real `Poller` on the same database (its own name), opened
(timed apart); then, round after round, the coordinator switches the feed server to its next
round of newer items and tells every poller to poll the feeds that are due, as `monitor poll`
does: they claim the feeds between them (each feed by one of them) and store the new items.
A round's figure is its wall time, from the switch until every poller is done. The pollers'
clocks run an interval ahead each round, so every feed is due again.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import emit


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def load(source: str, url: str) -> dict[str, Any]:
    import psycopg

    from monitor.store import open_store
    from monitor.store.copy import copy_store

    src, dst = open_store(Path(source)), open_store(url)
    started, cpu0 = time.perf_counter(), _cpu()
    per_table: dict[str, float] = {}
    last = [started, ""]

    def progress(table: str, done: int, total: int) -> None:
        if table != last[1]:
            now = time.perf_counter()
            if last[1]:
                per_table[str(last[1])] = now - float(last[0])
            last[:] = [now, table]

    report = copy_store(src, dst, progress=progress, batch_rows=100_000)
    copied = time.perf_counter()
    if last[1]:
        per_table[str(last[1])] = copied - float(last[0])
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("VACUUM (ANALYZE)")
    vacuumed = time.perf_counter()
    snap = dst.snapshot()
    return {
        "copy_seconds": copied - started,
        "copy_cpu": _cpu() - cpu0,
        "vacuum_seconds": vacuumed - copied,
        "tables_seconds": per_table,
        "equal": report.equal,
        "rows": report.destination_rows,
        "bytes": snap.details().get("bytes", {}),
    }


def _poller_worker(
    config_path: str, url: str, name: str, conn: Any, interval: float, tone: bool
) -> None:
    from monitor.config import load_config
    from monitor.poll import Poller
    from monitor.store import open_store

    offset = [timedelta(0)]
    config = load_config(config_path)
    t0 = time.perf_counter()
    poller = Poller(
        config,
        open_store(url),
        name=name,
        now=lambda: datetime.now(UTC) + offset[0],
        tone=tone,
    )
    poller.open()
    conn.send({"open": time.perf_counter() - t0})
    while True:
        r = conn.recv()
        if r is None:
            break
        offset[0] = timedelta(seconds=interval * (r + 1))
        cpu0, t1 = _cpu(), time.perf_counter()
        poller.refresh_states()
        summary = asyncio.run(poller.poll(poller.due_feeds(), when="due"))
        conn.send(
            {
                "seconds": time.perf_counter() - t1,
                "cpu": _cpu() - cpu0,
                "new": summary.new_articles,
                "feeds": summary.feeds,
                "failed": summary.failed,
            }
        )
    conn.close()


def sustained(
    config_path: Path, server: str, rounds: int, pollers: int, tone: bool
) -> dict[str, Any]:
    import urllib.request

    from monitor.config import load_config
    from monitor.store import open_store

    config = load_config(config_path)
    url = str(config.store)
    interval = config.poll.every.total_seconds() + 60
    before = open_store(url).snapshot()
    ctx = multiprocessing.get_context("spawn")
    pipes, procs = [], []
    for i in range(pollers):
        parent, child = ctx.Pipe()
        p = ctx.Process(
            target=_poller_worker,
            args=(str(config_path), url, f"bench-{i}", child, interval, tone),
        )
        p.start()
        pipes.append(parent)
        procs.append(p)
    opened = [c.recv()["open"] for c in pipes]
    out = []
    try:
        for r in range(rounds):
            urllib.request.urlopen(f"{server}/_bench/round/{r}").read()
            t0 = time.perf_counter()
            for c in pipes:
                c.send(r)
            answers = [c.recv() for c in pipes]
            out.append({"wall": time.perf_counter() - t0, "pollers": answers})
    finally:
        for c in pipes:
            c.send(None)
        for p in procs:
            p.join(timeout=60)
    after = open_store(url).snapshot()
    return {
        "open": opened,
        "rounds": out,
        "articles_before": before.rows("articles"),
        "articles_after": after.rows("articles"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["load", "sustained"])
    parser.add_argument("--source")
    parser.add_argument("--url")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pollers", type=int, default=2)
    parser.add_argument("--no-tone", action="store_true")
    args = parser.parse_args()
    if args.mode == "load":
        emit(load(args.source, args.url))
    else:
        emit(sustained(args.config, args.server, args.rounds, args.pollers, not args.no_tone))


if __name__ == "__main__":
    main()
