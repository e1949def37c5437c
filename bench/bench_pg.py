"""The PostgreSQL store's figures: loading a benchmark store into it, and sustained ingest by
several pollers sharing it. (Its query figures come from bench_store.py, given the URL.)

    python -m bench.bench_pg load --source DIR/data --url URL
    python -m bench.bench_pg sustained --config CFG --server URL --rounds N --pollers K

load: `monitor.store.copy.copy_store` from the embedded store to the (empty) database, timed,
then VACUUM ANALYZE (what a team does once after `monitor store copy`), timed apart.

sustained: K worker processes, each a real `Poller` on the same database (its own name), opened
and warmed up as `monitor poll` does before its first round (`Poller.warm_up`; both timed
apart); then, round after round, the coordinator switches the feed server to its next
round of newer items and tells every poller to poll the feeds that are due, as `monitor poll`
does: they claim the feeds between them (each feed by one of them) and store the new items.
A round's figure is its wall time, from the switch until every poller is done. The pollers'
clocks run an interval ahead each round, so every feed is due again.

Before the rounds the database's indexes are read into the operating system's cache
(`pg_prewarm`, mode 'read'; timed apart), as on a server that has been running: a database
just copied for the benchmark is otherwise read from disk a page at a time by the first
commits' index inserts (random keys: article ids are hashes), ~1 ms a page here. Each round
also gives the CPU time of every process taking part (psutil): the pollers, the PostgreSQL
backends serving them, its WAL writer and other background processes, the feed server, per
article, which does not depend on what else the machine runs as the wall time does, and the
seconds each poller's loop spent in its writer's commit calls (`commits`: its waits on its
own commits). `--profile DIR` writes each poller's cProfile stats of each round there.

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


class _Waits:
    """Seconds a poller's loop spent in its writer's commits (its waits on the database),
    by wrapping the writer's commit methods."""

    def __init__(self, writer: Any) -> None:
        self.seconds = 0.0
        for name in ("commit", "commit_later"):
            if hasattr(writer, name):
                setattr(writer, name, self._timed(getattr(writer, name)))

    def _timed(self, fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        return timed


def _poller_worker(
    config_path: str,
    url: str,
    name: str,
    conn: Any,
    interval: float,
    tone: bool,
    profile: str = "",
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
    opened = time.perf_counter()
    if hasattr(poller, "warm_up"):
        poller.warm_up()  # as `monitor poll` (Poller.run) does before its first round
    conn.send({"open": opened - t0, "warm_up": time.perf_counter() - opened})
    waits = _Waits(poller.writer)
    while True:
        r = conn.recv()
        if r is None:
            break
        offset[0] = timedelta(seconds=interval * (r + 1))
        cpu0, t1, waited = _cpu(), time.perf_counter(), waits.seconds
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        poller.refresh_states()
        summary = asyncio.run(poller.poll(poller.due_feeds(), when="due"))
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(Path(profile, f"{name}-round{r}.prof")))
        conn.send(
            {
                "seconds": time.perf_counter() - t1,
                "commits": waits.seconds - waited,
                "cpu": _cpu() - cpu0,
                "new": summary.new_articles,
                "feeds": summary.feeds,
                "failed": summary.failed,
            }
        )
    conn.close()


def _postmaster(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        folder = con.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
    return int(Path(folder, "postmaster.pid").read_text().split()[0])


def _prewarm(url: str) -> dict[str, float]:
    """Read the database's indexes into the OS cache; seconds and megabytes."""
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        blocks = con.execute(
            """SELECT coalesce(sum(pg_prewarm(c.oid, 'read')), 0) FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind = 'i'"""
        ).fetchone()[0]  # type: ignore[index]
    return {"seconds": time.perf_counter() - t0, "mb": int(blocks) * 8192 / 2**20}


class _Cpu:
    """CPU seconds of the processes taking part, by kind: `poller`, `feed server`, and
    PostgreSQL's (`pg backend` for the sessions, else the background process's name)."""

    def __init__(self, postmaster: int, pollers: set[int], feed_server: int | None):
        self.postmaster, self.pollers, self.feed_server = postmaster, pollers, feed_server

    def _kind(self, proc: Any) -> str | None:
        if proc.pid in self.pollers:
            return "poller"
        if proc.pid == self.feed_server:
            return "feed server"
        if proc.pid == self.postmaster:
            return "pg postmaster"
        if proc.ppid() != self.postmaster:
            return None
        title = " ".join(proc.cmdline())
        rest = title.removeprefix("postgres: ").split()
        if len(rest) >= 3 and ("(" in rest[2] or rest[2] == "[local]"):
            return "pg backend"  # "user db host(port) state"
        return "pg " + " ".join(w for w in rest if w.isalpha())[:20]

    def sample(self) -> dict[int, tuple[str, float]]:
        import psutil

        out: dict[int, tuple[str, float]] = {}
        for proc in psutil.process_iter():
            try:
                kind = self._kind(proc)
                if kind is not None:
                    t = proc.cpu_times()
                    out[proc.pid] = (kind, t.user + t.system)
            except psutil.Error:
                continue
        return out

    @staticmethod
    def between(a: dict[int, tuple[str, float]], b: dict[int, tuple[str, float]]) -> dict:
        spent: dict[str, float] = {}
        for pid, (kind, t) in b.items():
            spent[kind] = spent.get(kind, 0.0) + t - (a[pid][1] if pid in a else 0.0)
        return {k: round(v, 3) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])}


def sustained(
    config_path: Path,
    server: str,
    rounds: int,
    pollers: int,
    tone: bool,
    feed_server: int | None = None,
    profile: str = "",
) -> dict[str, Any]:
    import urllib.request

    from monitor.config import load_config
    from monitor.store import open_store

    config = load_config(config_path)
    url = str(config.store)
    interval = config.poll.every.total_seconds() + 60
    before = open_store(url).snapshot()
    warmed = _prewarm(url)
    ctx = multiprocessing.get_context("spawn")
    pipes, procs = [], []
    for i in range(pollers):
        parent, child = ctx.Pipe()
        p = ctx.Process(
            target=_poller_worker,
            args=(str(config_path), url, f"bench-{i}", child, interval, tone, profile),
        )
        p.start()
        pipes.append(parent)
        procs.append(p)
    started = [c.recv() for c in pipes]
    opened = [s["open"] for s in started]
    cpu = _Cpu(_postmaster(url), {p.pid for p in procs if p.pid}, feed_server)
    out = []
    try:
        for r in range(rounds):
            urllib.request.urlopen(f"{server}/_bench/round/{r}").read()
            s0, t0 = cpu.sample(), time.perf_counter()
            for c in pipes:
                c.send(r)
            answers = [c.recv() for c in pipes]
            wall = time.perf_counter() - t0
            out.append(
                {
                    "wall": wall,
                    "pollers": answers,
                    "cpu": cpu.between(s0, cpu.sample()),
                    "load": os.getloadavg()[0],
                }
            )
    finally:
        for c in pipes:
            c.send(None)
        for p in procs:
            p.join(timeout=60)
    after = open_store(url).snapshot()
    return {
        "open": opened,
        "warm_up": [s.get("warm_up", 0.0) for s in started],
        "prewarm": warmed,
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
    parser.add_argument("--feed-server-pid", type=int, help="to count its CPU time too")
    parser.add_argument("--profile", default="", help="a folder: each round's cProfile stats")
    args = parser.parse_args()
    if args.mode == "load":
        emit(load(args.source, args.url))
    else:
        emit(
            sustained(
                args.config,
                args.server,
                args.rounds,
                args.pollers,
                not args.no_tone,
                args.feed_server_pid,
                args.profile,
            )
        )


if __name__ == "__main__":
    main()
