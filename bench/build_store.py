"""Build a large store the way the poller would fill it, without HTTP; cached by its parameters.

    python -m bench.build_store --articles 2000000 [--days 730] [--entities 1000] [--seed 1]

The history is generated as a series of demo worlds of up to `WINDOW` days each (so memory
stays bounded at any size), all feeds healthy, in worker processes. Each day (or every few days
when feeds are quiet), every feed is "polled": its items that appeared since the last poll are
rendered as a feed document (`World.render_feed`), parsed by `monitor.parse.parse_feed`,
turned into articles by `monitor.poll.make_article` (seen at the poll), counted by
`monitor.match.Matcher` and their names found by `monitor.names`; the main process buffers
them in a `monitor.store.Writer`, which commits every `--batch` new articles (compaction
included, as in production). What the poller does and this does not: sentences naming
synthetic watched entities (bench/world.py) are added to each entry's text before matching,
so that about a thousand entities get a skewed share of the ~2.5 mentions per article; and
stories and tone are not computed (each article is a story of its own, tone is NULL: the
queries over them cost the same), which would make a 10M-article build hours longer.

The store lands in bench/out/stores/<key>/ with a feeds.yaml whose watchlist is the store's
(so a poller or the dashboard opened on it recounts nothing), and `bench-store.json` with what
was built and how long each phase took. An existing, complete build is reused (a build cached
before the daily roll-ups gets them first: `rollups_seconds`). An interrupted build (killed,
or the machine needed for something else) resumes where its last commit left it: the windows
come in order of time and each commit is atomic, so the store's latest fetch says which window
to redo, and that window's fetches already stored are skipped (`build-progress.json` keeps the
time spent so far, for the figures). A resumed build's store is the same as an uninterrupted
one's, row for row.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import random
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import OUT, emit, log
from bench.world import NOW, Injector, synthetic_entities, write_feeds_yaml
from monitor.demo.world import World
from monitor.enrich import fingerprint as analyses_fingerprint
from monitor.match import Matcher
from monitor.models import FeedState
from monitor.names import extract_names
from monitor.parse import parse_feed
from monitor.poll import make_article
from monitor.store import open_store

BUILD_VERSION = 5  # bump when the way stores are built changes (invalidates the cache)
WINDOW = 30  # days of history per generated world
BASE_URL = "https://feeds.bench.example"


def store_dir(articles: int, days: int, entities: int, outlets: int, seed: int) -> Path:
    key = f"a{articles}-d{days}-e{entities}-o{outlets}-s{seed}-v{BUILD_VERSION}"
    return OUT / "stores" / key


def watchlist(entities: int, seed: int) -> tuple[list[Any], list[Any]]:
    """(the whole watchlist, the synthetic part) for a store of `entities` watched entities."""
    base = World.generate(seed=seed, days=1, outlets=1, articles_per_day=0, now=NOW).entities
    extra = synthetic_entities(0, seed=seed, existing=base, min_entities=entities - len(base))
    return base + extra, extra


def produce(task: tuple[int, int, int, int, int, int, float, str]) -> dict[str, Any]:
    """One window of history, in a worker process: generate, render each feed's new items day
    by day, parse, make articles, count mentions. Returns the fetches with their articles."""
    w, span, end_offset, outlets, per_day, seed, mean, now_iso = task
    now = datetime.fromisoformat(now_iso)
    started = time.process_time()
    watch, extra = watchlist_cached(seed)
    matcher = _MATCHER.get(seed) or _MATCHER.setdefault(seed, Matcher(watch))
    injector = Injector(extra, mean=mean)
    rng = random.Random(seed * 10_000 + w)
    t = {"generate": 0.0, "render": 0.0, "parse": 0.0, "match": 0.0, "other": 0.0}
    end = now - timedelta(days=end_offset)
    t0 = time.process_time()
    world = World.generate(
        seed=seed * 10_000 + w,
        days=span,
        outlets=outlets,
        articles_per_day=per_day,
        now=end,
        live_minutes=0,
        unhealthy=False,
    )
    t["generate"] += time.process_time() - t0
    paths = world.feed_paths()
    feeds = {
        BASE_URL + p: (world.outlet_of(p).feed_name(p), list(world.outlet_of(p).tags))
        for p in paths
    }
    fetches = []
    # poll each feed once a day, or less often when a feed would bring fewer than ~5 items
    every = max(1, min(7, -(-5 * outlets // max(per_day, 1))))
    # (the days in between get a 304 in the fetch log, so that the store's ingestion history
    # shows feeds polled every day, as a running poller's would)
    for k in range(span - 1, -1, -1):
        at = end - timedelta(days=k)
        prev = at - timedelta(days=every)
        for p in paths:
            url = BASE_URL + p
            new = world.visible_count(p, at) - world.visible_count(p, prev)
            if k % every or new <= 0:
                fetches.append((url, at, 0, None))
                continue
            t0 = time.process_time()
            body = world.render_feed(p, at, limit=new)
            t1 = time.process_time()
            parsed = parse_feed(body, url)
            t2 = time.process_time()
            items = []
            match_s = 0.0
            for entry in parsed.entries:
                extra_text = injector.extra(rng)
                if extra_text:
                    entry = dataclasses.replace(entry, text=f"{entry.text} {extra_text}")
                article = make_article(entry, url, at)
                m0 = time.process_time()
                counts = matcher.count(article.title, article.text)
                match_s += time.process_time() - m0
                items.append((article, counts, extract_names(article.title, article.text)))
            t3 = time.process_time()
            t["render"] += t1 - t0
            t["parse"] += t2 - t1
            t["match"] += match_s
            t["other"] += t3 - t2 - match_s
            fetches.append((url, at, len(body), items))
    return {
        "w": w,
        "fetches": fetches,
        "feeds": feeds,
        "cpu": t,
        "cpu_total": time.process_time() - started,
    }


_WATCH: dict[int, tuple[list[Any], list[Any]]] = {}
_MATCHER: dict[int, Matcher] = {}
_ENTITIES = 1000


def watchlist_cached(seed: int) -> tuple[list[Any], list[Any]]:
    if seed not in _WATCH:
        _WATCH[seed] = watchlist(_ENTITIES, seed)
    return _WATCH[seed]


def _init_worker(entities: int) -> None:
    global _ENTITIES
    _ENTITIES = entities


def build(
    folder: Path,
    *,
    articles: int,
    days: int,
    entities: int,
    outlets: int,
    seed: int,
    batch: int,
    mentions_per_article: float,
    workers: int = 2,
    resume: bool = True,
) -> dict[str, Any]:
    meta_path = folder / "bench-store.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        _add_rollups(folder, meta, meta_path)
        meta["cached"] = True
        return meta
    progress_path = folder / "build-progress.json"
    if folder.exists() and not (resume and (folder / "data" / "manifest.json").exists()):
        shutil.rmtree(folder)  # an unfinished build
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _init_worker(entities)
    watch, _ = watchlist_cached(seed)
    fingerprint = analyses_fingerprint(Matcher(watch))
    # the world's entities make ~1.1 mention rows per article; the synthetic ones add the rest
    mean = max(mentions_per_article - 1.1, 0.0) * 1.08
    store = open_store(folder / "data")
    writer = store.writer()
    per_day = max(1, round(articles / days))
    window = max(3, min(WINDOW, round(WINDOW * 80_000 / max(per_day * WINDOW, 1))))
    tasks = []
    w = 0
    while w * window < days:
        span = min(window, days - w * window)
        tasks.append(
            (w, span, days - w * window - span, outlets, per_day, seed, mean, NOW.isoformat())
        )
        w += 1
    earlier = json.loads(progress_path.read_text()) if progress_path.exists() else {}
    tasks, done_fetches = _resume_point(store, tasks)
    if done_fetches:
        log(f"build {folder.name}: resuming at window {tasks[0][0]} of {w}")
    cpu: dict[str, float] = dict(earlier.get("worker_cpu_seconds", {}))
    t_store = t_commit = 0.0
    stored = mention_rows = 0
    feed_meta: dict[str, tuple[str, list[str]]] = {}
    last_log = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    # at most `workers + 1` windows in flight: the writer can be slower than the producers
    # (big compactions), and windows waiting in memory would pile up
    in_flight = threading.BoundedSemaphore(workers + 1)

    def bounded() -> Any:
        for task in tasks:
            in_flight.acquire()
            yield task

    with ctx.Pool(workers, initializer=_init_worker, initargs=(entities,)) as pool:
        for result in pool.imap(produce, bounded()):
            in_flight.release()
            for k, v in result["cpu"].items():
                cpu[k] = cpu.get(k, 0.0) + v
            feed_meta.update(result["feeds"])
            t0 = time.perf_counter()
            for url, at, size, items in result["fetches"]:
                if (url, at.replace(tzinfo=None)) in done_fetches:
                    continue  # committed before the build was interrupted
                added = 0
                for article, counts, names in items or ():
                    if writer.add_article(article, url, at):
                        mention_rows += writer.add_mentions(article, counts)
                        writer.add_story_and_names(article, article.id, names)
                        added += 1
                writer.add_fetch(
                    {
                        "feed": url,
                        "time": at.replace(tzinfo=None),
                        "status": 200 if items is not None else 304,
                        "outcome": "ok" if items is not None else "unchanged",
                        "bytes": size,
                        "new_articles": added,
                        "duration": 0.05,
                        "error": "",
                    }
                )
                stored += added
                if len(writer.new_articles) >= batch:
                    t1 = time.perf_counter()
                    writer.commit(watchlist=(watch, fingerprint))
                    t_commit += time.perf_counter() - t1
                    _save_progress(progress_path, earlier, started, t_commit, cpu)
            t_store += time.perf_counter() - t0
            del result
            if time.perf_counter() - last_log > 30:
                last_log = time.perf_counter()
                rate = stored / (last_log - started)
                log(
                    f"build {folder.name}: {stored:,} articles, {mention_rows:,} mentions, "
                    f"{rate:,.0f}/s"
                )
    t0 = time.perf_counter()
    known = store.snapshot().feeds
    for url, (name, tags) in feed_meta.items():
        st = dataclasses.replace(
            known.get(url) or FeedState(url=url),
            name=name,
            tags=tags,
            last_poll=NOW,
            last_success=NOW,
            last_outcome="ok",
            last_status=200,
        )
        writer.set_feed(st)
    writer.commit(watchlist=(watch, fingerprint))
    t_commit += time.perf_counter() - t0
    total = time.perf_counter() - started + earlier.get("seconds", 0.0)
    t_commit += earlier.get("commit_seconds", 0.0)
    snap = store.snapshot()
    write_feeds_yaml(
        folder / "feeds.yaml",
        store=folder / "data",
        feeds=[(name, url, tags) for url, (name, tags) in feed_meta.items()],
        entities=watch,
    )
    meta = {
        "articles": snap.rows("articles"),
        "mentions": snap.rows("mentions"),
        "sources": snap.rows("sources"),
        "fetches": snap.rows("fetches"),
        "entities": len(watch),
        "aliases": sum(len(e.names) for e in watch),
        "feeds": len(feed_meta),
        "days": days,
        "build_seconds": round(total, 1),
        "rate": round(snap.rows("articles") / total),
        "workers": workers,
        "worker_cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
        "writer_seconds": round(t_store - t_commit, 1),
        "commit_seconds": round(t_commit, 1),
        "disk_mb": round(
            sum(f.stat().st_size for f in (folder / "data").rglob("*.parquet")) / 2**20
        ),
        "files": {k: len(v) for k, v in snap.files.items()},
        "fingerprint": fingerprint,
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_until": NOW.isoformat(),
        "cached": False,
        "resumed": earlier.get("runs", 0),
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    progress_path.unlink(missing_ok=True)
    return meta


def _resume_point(
    store: Any, tasks: list[tuple[Any, ...]]
) -> tuple[list[tuple[Any, ...]], set[tuple[str, datetime]]]:
    """The windows an interrupted build still has to make, and the fetches of the first of
    them that it committed (to be skipped: they and their articles are stored). Windows come
    in order of time and a commit is atomic, so the store's latest fetch says where it stopped."""
    snap = store.snapshot()
    if not snap.rows("fetches"):
        return tasks, set()
    [row] = snap.records("SELECT max(time) AS last FROM {fetches}")
    last = row["last"]
    for i, (_w, span, end_offset, *_rest) in enumerate(tasks):
        end = (NOW - timedelta(days=end_offset)).replace(tzinfo=None)
        if last <= end:
            start = end - timedelta(days=span)
            done = snap.records("SELECT feed, time FROM {fetches} WHERE time > ?", [start])
            return tasks[i:], {(r["feed"], r["time"]) for r in done}
    return [], set()


def _save_progress(
    path: Path, earlier: dict[str, Any], started: float, commit_s: float, cpu: dict[str, float]
) -> None:
    """What an interrupted build has spent so far, for the figures of the resumed one."""
    progress = {
        "runs": earlier.get("runs", 0) + 1,
        "seconds": earlier.get("seconds", 0.0) + time.perf_counter() - started,
        "commit_seconds": earlier.get("commit_seconds", 0.0) + commit_s,
        "worker_cpu_seconds": cpu,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(progress))
    tmp.replace(path)


def _add_rollups(folder: Path, meta: dict[str, Any], meta_path: Path) -> None:
    """A store cached before the daily roll-ups (issue 14): compute them as its poller's first
    commit would after an upgrade, once, so that the queries are timed as users get them."""
    store = open_store(folder / "data")
    if store.snapshot().rollups:
        return
    log(f"computing the daily roll-ups of the cached store {folder.name}")
    started = time.perf_counter()
    snap = store.writer().commit()
    meta["rollups_seconds"] = round(time.perf_counter() - started, 1)
    meta["files"] = snap.details()["files"]
    meta_path.write_text(json.dumps(meta, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--outlets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--mentions-per-article", type=float, default=2.5)
    parser.add_argument("--workers", type=int, default=2, help="processes generating and parsing")
    args = parser.parse_args()
    folder = store_dir(args.articles, args.days, args.entities, args.outlets, args.seed)
    meta = build(
        folder,
        articles=args.articles,
        days=args.days,
        entities=args.entities,
        outlets=args.outlets,
        seed=args.seed,
        batch=args.batch,
        mentions_per_article=args.mentions_per_article,
        workers=args.workers,
    )
    meta["folder"] = str(folder)
    emit(meta)


if __name__ == "__main__":
    main()
