"""Full text: the poller's background reader of article pages.

Most feeds carry a title and a sentence or two; the article is on the page an entry links to.
For each new article of a feed that reads pages (`full_text`, see `wants_full_text`), the
poller stores the article with its feed's text and counts its mentions there, as always, then
hands its page to a `PageReader`, which works in the background of polling, never delaying it:

- **robots.txt** is read once per site (scheme, host and port) and kept for `ROBOTS_TTL`; a page
  it refuses to the project's user agent is not requested (every hop of a redirect is asked).
  A robots.txt that answers 4xx allows everything; one that cannot be read (5xx, network) refuses
  everything for `ROBOTS_RETRY`, and the page is tried again later (RFC 9309).
- **Fetching** goes through a `Fetcher` of its own (fetch.py: timeouts, at most `per_host`
  requests to a site and `PAGE_CONCURRENCY` in all, a size cap of `PAGE_MAX_BYTES`, http(s)
  only), the article's link without its fragment (`/story#comments` is `/story`).
- **Extracting** (extract.py) runs in a separate process, so a large or hostile page costs the
  poller nothing but the wait, and extraction uses a core of its own.
- **Outcomes**, one `pages` row per attempt (store.py): `ok` (the article is counted again, on
  its title and the page's text), `robots` (refused by robots.txt), `short` (too little text:
  a paywall or consent page), `failed` (HTTP error, not HTML, too large, ...). The article keeps
  its feed's text unless `ok`. An article is tried at most `MAX_ATTEMPTS` times: when stored,
  then `RETRY_AFTER` later (or when a 429/503's Retry-After says, if later).

The queue survives restarts: the pages row written when an article is queued (`pending`) and
the next try of each attempt are in the store, and `PageReader.load` picks them up.

What it leaves to others: when to poll and what to store (poll.py), HTTP (fetch.py), reading a
page (extract.py), the rows (store.py), counting (match.py).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import heapq
import os
import sys
import time
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .models import FetchRequest
from .text import default_port, is_http_url

if TYPE_CHECKING:
    from protego import Protego

    from .extract import PageText
    from .fetch import Fetcher
    from .store import Snapshot

# extract.py (and the parsers it imports), multiprocessing, robots.txt's parser and fetch.py
# are imported when the first page is read: a poller that reads no page (most polls) never
# needs them here (the poller imports fetch.py for its feeds, once a round starts)

MB = 1024 * 1024

FULL_TEXT_BELOW = 600  # feeds whose entries carry fewer characters (median) read pages by default
MAX_ATTEMPTS = 3
RETRY_AFTER = (timedelta(minutes=30), timedelta(hours=6))  # after the 1st and 2nd attempt
PAGE_MAX_BYTES = 4 * MB
PAGE_CONCURRENCY = 8  # pages fetched at once (feeds have their own limits)
ROBOTS_TTL = timedelta(hours=24)
ROBOTS_RETRY = timedelta(minutes=10)  # a robots.txt that could not be read is asked again then
STATUSES = ("pending", "ok", "robots", "short", "failed")


# --------------------------------------------------------------------------------------------
# Pure rules


def median_chars(texts: Iterable[str]) -> int | None:
    """The median length of the entries' texts (None for a feed without entries)."""
    import statistics  # (~3 ms to import, with fractions: only when a feed brings entries)

    lengths = [len(t) for t in texts]
    return int(statistics.median(lengths)) if lengths else None


def wants_full_text(setting: bool | None, median: int | None) -> bool:
    """Whether a feed's new articles get their pages read: its `full_text` (else `poll:`'s);
    unset, when its entries carry fewer than FULL_TEXT_BELOW characters of text (the median
    of the poll that brought them): summaries, not articles."""
    if setting is not None:
        return setting
    return median is not None and median < FULL_TEXT_BELOW


def page_url(link: str) -> str | None:
    """The page to fetch for an article's link: without its fragment; None if not http(s)."""
    url = link.partition("#")[0]
    return url if is_http_url(url) else None


def _origin(url: str) -> str:
    """scheme://host[:port] of an http(s) URL, whose robots.txt rules it (no credentials, the
    default port left out); ValueError when it has no host or a port out of range."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    if not host:
        raise ValueError(f"no host in {url!r}")
    scheme = parts.scheme.lower()
    if ":" in host:
        host = f"[{host}]"
    shown = "" if port in (None, default_port(scheme)) else f":{port}"
    return f"{scheme}://{host}{shown}"


def next_try(attempt: int, now: datetime, retry_after: float | None = None) -> datetime | None:
    """When to try a page again after its `attempt`-th attempt failed (None: never again)."""
    if attempt >= MAX_ATTEMPTS:
        return None
    delay = RETRY_AFTER[min(attempt, len(RETRY_AFTER)) - 1]
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=min(retry_after, 7 * 86400)))
    return now + delay


def _naive(t: datetime | None) -> datetime | None:
    return t.astimezone(UTC).replace(tzinfo=None) if t is not None and t.tzinfo else t


@dataclass(order=True)
class PageJob:
    """An article whose page is to be read. Ordered by when it is due."""

    due: datetime
    article_id: int = field(compare=False)
    url: str = field(compare=False)  # without its fragment
    title: str = field(compare=False)
    feed_chars: int = field(compare=False)  # characters of the feed's own text
    published: datetime = field(compare=False)
    story: int | None = field(default=None, compare=False)  # the story it was given (enrich.py)
    feed: str = field(default="", compare=False)  # the feed (key) whose poll queued it
    attempts: int = field(default=0, compare=False)  # attempts made so far

    def queued_row(self, now: datetime) -> dict[str, Any]:
        """The `pages` row saying the page is queued."""
        return {
            "article_id": self.article_id,
            "url": self.url,
            "published": _naive(self.published),
            "attempt": 0,
            "status": "pending",
            "time": _naive(now),
            "next_try": _naive(self.due),
            "http_status": None,
            "bytes": 0,
            "error": "",
            "text": None,
        }


@dataclass
class PageOutcome:
    """What one attempt at an article's page gave."""

    job: PageJob
    status: str  # ok | robots | short | failed
    time: datetime
    text: str = ""
    http_status: int | None = None
    bytes: int = 0
    error: str = ""
    next_try: datetime | None = None
    seconds: float = 0.0  # fetching and reading it

    @property
    def attempt(self) -> int:
        return self.job.attempts + 1

    def row(self) -> dict[str, Any]:
        """The `pages` row of this attempt."""
        return {
            "article_id": self.job.article_id,
            "url": self.job.url,
            "published": _naive(self.job.published),
            "attempt": self.attempt,
            "status": self.status,
            "time": _naive(self.time),
            "next_try": _naive(self.next_try),
            "http_status": self.http_status,
            "bytes": self.bytes,
            "error": self.error,
            "text": self.text if self.status == "ok" else None,
        }


# --------------------------------------------------------------------------------------------
# robots.txt


@dataclass
class _Rules:
    expires: float  # time.monotonic()
    parser: Protego | None  # None: allows everything
    unreachable: str = ""  # why robots.txt could not be read: everything refused until expiry


class Robots:
    """robots.txt per site, fetched through `fetcher` and cached (see the module docstring)."""

    def __init__(self, fetcher: Fetcher, user_agent: str):
        self.fetcher = fetcher
        self.user_agent = user_agent
        self._rules: dict[str, _Rules] = {}
        self._loading: dict[str, asyncio.Future[_Rules]] = {}

    async def check(self, url: str) -> tuple[str, str] | None:
        """None when `url` may be fetched, else (status, reason): `robots` when robots.txt
        refuses it, `failed` when robots.txt could not be read."""
        try:
            origin = _origin(url)
        except ValueError:
            return ("failed", "not a valid URL")
        rules = await self._rules_of(origin)
        if rules.unreachable:
            return ("failed", f"{origin}/robots.txt could not be read ({rules.unreachable})")
        if rules.parser is not None and not rules.parser.can_fetch(url, self.user_agent):
            return ("robots", f"refused by {origin}/robots.txt")
        return None

    async def _rules_of(self, origin: str) -> _Rules:
        rules = self._rules.get(origin)
        if rules is not None and rules.expires > time.monotonic():
            return rules
        loading = self._loading.get(origin)
        if loading is None:  # one fetch per site, however many of its pages are waiting
            loading = self._loading[origin] = asyncio.ensure_future(self._load(origin))
            loading.add_done_callback(lambda _: self._loading.pop(origin, None))
        rules = await asyncio.shield(loading)
        self._rules[origin] = rules
        return rules

    async def _load(self, origin: str) -> _Rules:
        result = await self.fetcher.fetch(FetchRequest(origin + "/robots.txt"))
        now = time.monotonic()
        later = now + ROBOTS_TTL.total_seconds()
        if result.outcome == "ok" and result.body is not None:
            from protego import Protego

            try:
                parser = Protego.parse(result.body.decode("utf-8", "replace"))
            except (ValueError, TypeError, IndexError, AttributeError):
                return _Rules(later, None)  # unparseable: like a robots.txt without rules
            return _Rules(later, parser)
        status = result.status or 0
        if result.outcome == "gone" or 400 <= status < 500:  # "unavailable": no restrictions
            return _Rules(later, None)
        return _Rules(now + ROBOTS_RETRY.total_seconds(), None, result.error or "no answer")


# --------------------------------------------------------------------------------------------
# Extraction in a process of its own


_POOL: concurrent.futures.Executor | None = None


@contextlib.contextmanager
def without_main() -> Iterator[None]:
    """Hide the program's __main__ while workers start: multiprocessing's spawn would import it
    again in each worker (running a script's top level a second time, when it has no
    `if __name__ == "__main__":`), and workers need nothing from it."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def extraction_pool() -> concurrent.futures.Executor:
    """The processes that read pages, shared by the pollers of this process; started (and
    waited for) on first use; a thread when processes cannot be started. Blocks: call it
    from a thread (`asyncio.to_thread`)."""
    global _POOL
    if _POOL is None:
        import multiprocessing

        from .extract import worker_ready, worker_setup

        workers = max(1, min(2, (os.cpu_count() or 2) - 1))
        try:
            with without_main():
                pool = concurrent.futures.ProcessPoolExecutor(
                    workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=worker_setup,
                )
                # start every worker now, while __main__ is hidden (never again later)
                for ready in [pool.submit(worker_ready, 0.2) for _ in range(workers)]:
                    ready.result(timeout=60)
            _POOL = pool
            atexit.register(_shutdown_pool)  # before the interpreter tears its modules down
        except (OSError, ValueError, NotImplementedError, concurrent.futures.BrokenExecutor):
            _POOL = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pages")
    return _POOL


def _shutdown_pool() -> None:
    global _POOL
    if _POOL is not None:
        _POOL.shutdown(wait=True, cancel_futures=True)
    _POOL = None


def _reset_pool() -> None:
    global _POOL
    if _POOL is not None:
        _POOL.shutdown(wait=False, cancel_futures=True)
    _POOL = None


# --------------------------------------------------------------------------------------------
# The reader


OnOutcome = Callable[[PageOutcome], None]


class PageReader:
    """Reads queued article pages in the background of an event loop.

    `add` queues a job; `run(on_outcome)` (a task: `start`) fetches and reads the pages that
    are due, at most `concurrency` at once, and hands each outcome to `on_outcome` in the event
    loop's thread; `drain` waits until no page is due or being read. Jobs being read when the
    task is cancelled go back to the queue, so a reader can be run again on another loop.
    """

    def __init__(
        self,
        settings: Any,  # config.PollSettings: timeout, per_host
        *,
        now: Callable[[], datetime],
        user_agent: str | None = None,
        concurrency: int = PAGE_CONCURRENCY,
        executor: concurrent.futures.Executor | None = None,
    ):
        self.settings = settings
        self.now = now
        self.user_agent = user_agent
        self.concurrency = concurrency
        self.executor = executor
        self._heap: list[PageJob] = []
        self._queued: set[int] = set()  # article ids in the heap or being read
        self.attempts = 0  # pages tried since this reader was made
        self._wake: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._on_outcome: OnOutcome | None = None  # set by start(): then add() runs the task

    # queue ----------------------------------------------------------------------------------
    def add(self, job: PageJob) -> None:
        if job.article_id in self._queued:
            return
        self._queued.add(job.article_id)
        heapq.heappush(self._heap, job)
        if self._on_outcome is not None:
            self._run_here(self._on_outcome)
        if self._wake is not None:
            self._wake.set()
            assert self._idle is not None
            self._idle.clear()

    def wake(self) -> None:
        """Look at the queue again now (the clock moved: tests, a resumed machine)."""
        if self._wake is not None and self._idle is not None:
            self._idle.clear()
            self._wake.set()

    def load(self, jobs: Iterable[PageJob]) -> None:
        for job in jobs:
            self.add(job)

    @property
    def queued(self) -> int:
        """Pages waiting or being read."""
        return len(self._queued)

    def due(self, now: datetime | None = None) -> int:
        now = now or self.now()
        return sum(1 for job in self._heap if job.due <= now)

    # running --------------------------------------------------------------------------------
    def start(self, on_outcome: OnOutcome) -> None:
        """Read pages in a task of the running loop (one per loop), from when there is one to
        read: polling feeds that read no pages costs nothing."""
        self._on_outcome = on_outcome
        if self._heap:
            self._run_here(on_outcome)

    def _run_here(self, on_outcome: OnOutcome) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # added outside a loop (Poller.open): run by the next start()
            return
        if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
            return
        self._wake, self._idle = asyncio.Event(), asyncio.Event()
        self._task = loop.create_task(self.run(on_outcome), name="page reader")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def drain(self, stop: asyncio.Event | None = None) -> None:
        """Wait until no queued page is due and none is being read (or `stop` is set)."""
        if self._task is None or self._idle is None:
            return
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._idle.wait())]
        if stop is not None:
            waits.append(asyncio.ensure_future(stop.wait()))
        waits.append(asyncio.shield(self._task))  # the reader died: do not wait for ever
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if self._task.done() and not self._task.cancelled():
            self._task.result()  # the reader died of a bug: say so

    async def run(self, on_outcome: OnOutcome) -> None:
        if self._wake is None or self._idle is None:
            self._wake, self._idle = asyncio.Event(), asyncio.Event()
        wake, idle = self._wake, self._idle
        timeout = self.settings.timeout
        seconds = timeout.total_seconds() if hasattr(timeout, "total_seconds") else timeout
        reading: dict[asyncio.Task[PageOutcome], PageJob] = {}
        from .fetch import HTML_ACCEPT, Fetcher

        async with Fetcher(
            timeout=seconds,
            max_bytes=min(getattr(self.settings, "max_bytes", PAGE_MAX_BYTES), PAGE_MAX_BYTES),
            per_host=self.settings.per_host,
            concurrency=self.concurrency,
            user_agent=self.user_agent,
            now=self.now,
            accept=HTML_ACCEPT,
        ) as fetcher:
            robots = Robots(fetcher, fetcher.user_agent)
            try:
                while True:
                    now = self.now()
                    while (
                        self._heap and self._heap[0].due <= now and len(reading) < self.concurrency
                    ):
                        job = heapq.heappop(self._heap)
                        reading[asyncio.ensure_future(self._read(fetcher, robots, job))] = job
                    if not reading and not (self._heap and self._heap[0].due <= now):
                        idle.set()
                    wake.clear()
                    waiter = asyncio.ensure_future(wake.wait())
                    until_due = (self._heap[0].due - now).total_seconds() if self._heap else 60.0
                    done, _ = await asyncio.wait(
                        {*reading, waiter},
                        timeout=min(max(until_due, 0.05), 60.0),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    waiter.cancel()
                    for task in done - {waiter}:
                        job = reading.pop(task)  # type: ignore[arg-type]
                        outcome: PageOutcome = task.result()  # type: ignore[assignment]
                        self._queued.discard(job.article_id)
                        self.attempts += 1
                        on_outcome(outcome)
                        if outcome.next_try is not None:  # tried again later
                            self.add(replace(job, due=outcome.next_try, attempts=outcome.attempt))
            finally:
                for task, job in reading.items():  # back to the queue: run again later
                    task.cancel()
                    heapq.heappush(self._heap, job)
                await asyncio.gather(*reading, return_exceptions=True)

    async def _read(self, fetcher: Fetcher, robots: Robots, job: PageJob) -> PageOutcome:
        """One attempt at a page: robots.txt, fetch, read. Never raises but on cancellation."""
        started = time.monotonic()
        refused: list[tuple[str, str]] = []

        async def permit(url: str) -> str | None:
            verdict = await robots.check(url)
            if verdict is not None:
                refused.append(verdict)
                return verdict[1]
            return None

        result = await fetcher.fetch(FetchRequest(job.url), permit=permit)
        now = self.now()
        outcome = PageOutcome(job, "failed", now, http_status=result.status, bytes=result.bytes)
        if result.outcome == "refused" and refused:
            outcome.status, outcome.error = refused[-1]
        elif result.outcome == "gone":
            outcome.error = "HTTP 410 Gone"
        elif result.outcome != "ok" or result.body is None:
            outcome.error = result.error or "no answer"
        else:
            page = await self._extract(result.body, result.content_type, job)
            outcome.status, outcome.text, outcome.error = page.status, page.text, page.reason
        if outcome.status != "ok":
            retry = result.retry_after if result.status in (429, 503) else None
            outcome.next_try = next_try(outcome.attempt, now, retry)
        outcome.seconds = time.monotonic() - started
        return outcome

    async def _extract(self, body: bytes, content_type: str, job: PageJob) -> PageText:
        from .extract import PageText, read_page

        loop = asyncio.get_running_loop()
        pool = self.executor or _POOL or await asyncio.to_thread(extraction_pool)
        try:
            return await loop.run_in_executor(
                pool, read_page, body, content_type, job.title, job.feed_chars
            )
        except concurrent.futures.BrokenExecutor:
            if self.executor is None:
                _reset_pool()
            return PageText("failed", reason="the page could not be read (its reader stopped)")


QUEUE_COLUMNS = (
    *("article_id", "url", "title", "feed_chars", "published", "story", "feed", "attempt"),
    "next_try",
)


def pages_to_read(snap: Snapshot) -> list[dict[str, Any]]:
    """The articles whose pages are queued or to be tried again (their latest `pages` row has
    a next try), as rows of QUEUE_COLUMNS (`feed`: the one that first carried the article,
    whose poll queued its page); an article that is gone is not read. Plain rows, no
    DataFrame: the poller asks when it starts (`monitor.queries.pages_to_read` shows them)."""
    due = snap.records(
        """WITH last AS (SELECT article_id, url, published, attempt, status, next_try,
              row_number() OVER (PARTITION BY article_id ORDER BY attempt DESC) AS rn
            FROM {pages})
        SELECT article_id, url, published, attempt, next_try FROM last
        WHERE rn = 1 AND status <> 'ok' AND next_try IS NOT NULL"""
    )
    if not due:
        return []
    times = [r["published"] for r in due]
    span = [[r["article_id"] for r in due], min(times), max(times)]
    found = snap.records(
        """SELECT a.id AS article_id, a.title, length(a.text) AS feed_chars, s.story, a.feed
        FROM {articles} a LEFT JOIN (SELECT article_id, story FROM {stories}
            WHERE article_id IN (SELECT unnest(?::BIGINT[])) AND published BETWEEN ? AND ?) s
          ON s.article_id = a.id
        WHERE a.id IN (SELECT unnest(?::BIGINT[])) AND a.published BETWEEN ? AND ?""",
        [*span, *span],
    )
    by_id = {r["article_id"]: r for r in found}
    return [
        {c: {**r, **by_id[r["article_id"]]}[c] for c in QUEUE_COLUMNS}
        for r in due
        if r["article_id"] in by_id
    ]


def jobs_from_rows(rows: Sequence[dict[str, Any]], now: datetime) -> list[PageJob]:
    """Jobs for the articles whose latest `pages` row says they are to be tried (again):
    rows with `article_id, url, title, feed_chars, published, story, feed, attempt,
    next_try`."""
    jobs = []
    for r in rows:
        due = r["next_try"]
        if due is None:
            continue
        due = due.replace(tzinfo=UTC) if due.tzinfo is None else due
        published = r["published"]
        published = published.replace(tzinfo=UTC) if published.tzinfo is None else published
        jobs.append(
            PageJob(
                due=min(due, now + RETRY_AFTER[-1]),
                article_id=int(r["article_id"]),
                url=r["url"],
                title=r["title"] or "",
                feed_chars=int(r["feed_chars"] or 0),
                published=published,
                story=None if _missing(r.get("story")) else int(r["story"]),
                feed=r.get("feed") or "",
                attempts=int(r["attempt"] or 0),
            )
        )
    return jobs


def _missing(value: Any) -> bool:
    return value is None or value != value  # None, NaN, NaT (pandas' missing values)
