"""Reading article pages (issue 16): extraction per core, and pages read end to end.

    python -m bench.bench_pages extract --pages 2000 [--heavy]   # one process: read_page
    python -m bench.bench_pages serve --days 3                   # the demo world's pages
    python -m bench.bench_pages reader --server URL --days 3     # PageReader against it

`extract` times `monitor.extract.read_page` on demo-world pages (~5 KB: the article amid a news
site's boilerplate), or with `--heavy` on the same pages inflated to the size of a real news
page (~120 KB: hundreds of links, inline scripts and styles, long footers), CPU time, best of
3; the caller pins it to one core. `serve` serves a demo world (every outlet's pages readable)
from a process of its own and prints its base URL. `reader` reads every page of that world with
the poller's `PageReader` (its own fetcher, robots.txt, extraction in the worker process) and
reports pages per second and the CPU each page cost in this process and in the worker.
Each prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from datetime import timedelta

from bench.world import NOW
from monitor.demo.world import World

SITE = "http://127.0.0.1:8765"


def world(days: int) -> World:
    return World.generate(
        seed=3, days=days, outlets=40, articles_per_day=500, now=NOW, live_minutes=0,
        unhealthy=False,
    )  # fmt: skip


def heavy(page: bytes, n: int) -> bytes:
    """A demo page inflated to a real news page's size, with what such pages carry."""
    links = "".join(
        f'<li><a href="/section/{i}/story-{n + i}">Headline number {i} of the day</a></li>'
        for i in range(400)
    )
    script = json.dumps({"state": [{"id": i, "title": f"story {i}"} for i in range(900)]})
    style = "".join(f".c{i}{{margin:{i % 7}px;color:#{i % 999:03d}}}" for i in range(1200))
    extra_head = f"<style>{style}</style><script>window.__STATE__={script}</script>"
    extra_body = f'<nav class="mega-menu"><ul>{links}</ul></nav>'
    footer = f'<footer class="site-map"><ul>{links}</ul></footer>'
    text = page.decode()
    text = text.replace("</head>", extra_head + "</head>", 1)
    text = text.replace("<main>", extra_body + "<main>", 1).replace("</body>", footer + "</body>")
    return text.encode()


def cmd_extract(args: argparse.Namespace) -> dict[str, object]:
    from monitor.extract import read_page

    w = world(args.days)
    articles = w.articles[: args.pages]
    pages = [(w.render_page(a, SITE), a.title, len(a.feed_text)) for a in articles]
    if args.heavy:
        pages = [(heavy(body, i), title, n) for i, (body, title, n) in enumerate(pages)]
    del w, articles  # the world's heap slows the garbage collector: measure without it
    read_page(pages[0][0], "text/html", pages[0][1], pages[0][2])  # imports trafilatura
    best = float("inf")
    statuses: dict[str, int] = {}
    for _ in range(3):
        start = time.process_time()
        for body, title, n in pages:
            got = read_page(body, "text/html; charset=utf-8", title, n)
            statuses[got.status] = statuses.get(got.status, 0) + 1
        best = min(best, time.process_time() - start)
    size = sum(len(b) for b, _, _ in pages) / len(pages)
    return {
        "pages": len(pages),
        "pages_per_s": round(len(pages) / best),
        "ms_per_page": round(best / len(pages) * 1000, 2),
        "mean_kb": round(size / 1024, 1),
        "statuses": statuses,
    }


def cmd_serve(args: argparse.Namespace) -> None:
    from monitor.demo.server import serve_world

    w = world(args.days)
    with serve_world(w, clock=lambda: NOW + timedelta(minutes=1)) as server:
        print(json.dumps({"base_url": server.base_url}), flush=True)
        while True:
            time.sleep(3600)


async def read_all(base: str, days: int) -> dict[str, object]:
    import psutil

    from monitor import pages as pages_mod
    from monitor.config import PollSettings
    from monitor.pages import PageJob, PageReader, page_url

    w = world(days)
    jobs = [
        PageJob(
            due=NOW,
            article_id=a._serial,
            url=page_url(a.link(base)) or "",
            title=a.title,
            feed_chars=len(a.feed_text),
            published=NOW,
        )
        for a in w.articles
        if a.available <= NOW
    ]
    del w
    pool = await asyncio.to_thread(pages_mod.extraction_pool)  # started before the clock
    workers = [psutil.Process(p.pid) for p in getattr(pool, "_processes", {}).values()]

    def worker_cpu() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in workers)

    reader = PageReader(PollSettings(per_host=8, timeout=timedelta(seconds=30)), now=lambda: NOW)
    reader.load(jobs)
    outcomes: dict[str, int] = {}

    def count(outcome: pages_mod.PageOutcome) -> None:
        outcomes[outcome.status] = outcomes.get(outcome.status, 0) + 1

    own = resource.getrusage(resource.RUSAGE_SELF)
    before_self, before_workers = own.ru_utime + own.ru_stime, worker_cpu()
    started = time.perf_counter()
    reader.start(count)
    await reader.drain()
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF)
    cpu_self = own.ru_utime + own.ru_stime - before_self
    cpu_workers = worker_cpu() - before_workers
    await reader.stop()
    n = sum(outcomes.values())
    return {
        "pages": n,
        "outcomes": outcomes,
        "seconds": round(seconds, 2),
        "pages_per_s": round(n / seconds),
        "cpu_ms_poller": round(cpu_self / n * 1000, 2),
        "cpu_ms_worker": round(cpu_workers / n * 1000, 2),
        "workers": len(workers),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_pages")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract")
    e.add_argument("--pages", type=int, default=2000)
    e.add_argument("--days", type=int, default=5)
    e.add_argument("--heavy", action="store_true")
    s = sub.add_parser("serve")
    s.add_argument("--days", type=int, default=3)
    r = sub.add_parser("reader")
    r.add_argument("--server", required=True)
    r.add_argument("--days", type=int, default=3)
    args = p.parse_args(argv)
    if args.cmd == "serve":
        cmd_serve(args)
        return 0
    if args.cmd == "extract":
        out = cmd_extract(args)
    else:
        out = asyncio.run(read_all(args.server, args.days))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
