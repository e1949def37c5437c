"""The poller: config -> fetch -> parse -> match -> store, and when to poll each feed next.

One result per feed: a feed that fails (network, HTTP status, a body that is not a feed) gets
its error recorded in its state and in the fetch log, and the others carry on. Rows are
committed in small atomic batches while a poll runs, so readers see new articles quickly and
a stop (Ctrl-C, SIGTERM, kill -9) loses at most the batch in flight. Where the store can
(PostgreSQL), those commits run in the background while the round goes on
(`Writer.commit_later`); the round's last commit waits for them.

Several pollers may share a store (PostgreSQL): before fetching, a poller claims the due feeds
from the store (`Writer.claim`), which gives each to one poller at a time (a lease, kept
alive while the poll runs and released by the commit of the feed's new state); the store's
keys keep every article and mention unique whatever the race. With the embedded store the one
poller claims everything. `FeedState.poller` records who polled a feed last.

Feeds are known by `FeedConfig.key` (their URL with secrets hidden) in the feed state, the
fetch log and the articles' and sources' `feed` column; only the request handed to the
fetcher carries the real URL (`FeedConfig.fetch_url`, `${VAR}` filled in).

Full text: for a feed that reads pages (`full_text`), each new article is stored with its
feed's text as always and its page is queued for `pages.PageReader`, which reads pages in the
background while feeds are polled on schedule; each page read replaces the article's mentions
(see "Full text" below).

What it leaves to others: HTTP (fetch.py), parsing (parse.py), counting (match.py), the
store's layout (monitor/store/), reading pages (pages.py, extract.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING

from .config import Config, FeedConfig, file_stamp, load_config
from .errors import ConfigError, MonitorError
from .models import (
    Article,
    Entry,
    FeedState,
    FetchRequest,
    FetchResult,
    ParsedFeed,
    cap_title,
)
from .pages import (
    PageJob,
    PageOutcome,
    PageReader,
    jobs_from_rows,
    median_chars,
    page_url,
    pages_to_read,
    wants_full_text,
)
from .secrets import redact_text, without_userinfo
from .store import Snapshot, Store, Writer, article_key, open_store

if TYPE_CHECKING:
    from .enrich import Enricher, Enrichment, Prepared
    from .fetch import Fetcher
    from .match import Matcher
    from .parsepool import FeedParser, ParsedBody

# Imported where they are first used: fetch.py (pycurl) when a round starts; enrich.py and
# match.py (the automaton, the names) when the first article is new or the watchlist's
# fingerprint is asked for.


def _queries() -> ModuleType:
    """monitor.queries, imported on first use: it imports pandas (~0.2-0.5 s), which a poll
    that reads nothing back from the store (every feed unchanged) never needs."""
    from . import queries

    return queries


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    """parse.parse_feed, imported on first use: its parsers (lxml, fastfeedparser, feedparser)
    take ~50 ms to import, which a poll where every feed is unchanged never needs."""
    from .parse import parse_feed as parse

    return parse(body, url, content_type)


# A feed holds only its latest items, so every wait is bounded: a longer silence loses articles.
MAX_BACKOFF = timedelta(hours=24)  # after failures, and the most a Retry-After delays a feed
MAX_CACHE_HINT = timedelta(hours=6)  # a server's max-age / Expires never delays a feed longer
FUTURE_SLACK = timedelta(days=1)
COMMIT_EVERY = 2.0  # seconds between commits while a poll is running
# a poller sharing the store takes in the articles others stored since it last looked, minus
# this much (their clocks may differ a little from its own)
STORY_REFRESH_SLACK = timedelta(minutes=10)
# a round of at least this many feeds parses their bodies in a worker process (parsepool.py),
# on a machine with two cores or more; smaller rounds parse in the poller's own process
PARSE_ASIDE_FEEDS = 8
# whether the worker also counts mentions and scores their tone (parsepool.Analysis). Not on
# two cores: the worker then parses, counts and scores each body in turn and the round waits
# for it (cold ingest with tone, alternated on a quiet machine: 1,770-2,461 articles/s with
# it, 2,440-2,587/s with counting and tone left to the poller, beside its stories and commits)
COUNT_ASIDE = False
GC_YOUNG = 10_000  # allocations between collections of the young generation, during a round


def poller_name(name: str = "") -> str:
    """How a poller is known in the store and in `monitor status`: its name, else host:pid."""
    return name or f"{socket.gethostname()}:{os.getpid()}"


def utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------
# Pure rules


def entry_key(entry: Entry, feed: str, *, home: str = "") -> int:
    """The key of an entry within its feed: its guid, else its link, else its title + text.

    The link is the full one (fragment included: `/page#comment-2` is not `/page#comment-3`);
    a link to the feed's home page (`home`) is a placeholder shared by entries, not theirs.
    The key is also the id of the entry's article whenever the entry is not known by its URL.
    """
    if entry.guid:
        return article_key("guid", feed, entry.guid)
    if entry.link and entry.link != home:
        return article_key("link", feed, entry.link)
    return article_key("entry", feed, entry.title, entry.text[:500])


def make_article(entry: Entry, feed: str, seen: datetime, *, home: str = "") -> Article:
    """Turn a parsed entry into the article to store; fixes missing and future dates.

    The article's id is its canonical URL's (the link without its fragment): the same article
    carried by two feeds is stored once. An entry with no link, or whose link is the feed's
    own home page (`home`, a placeholder, not the entry's address), is keyed by its feed and
    `entry_key` instead. The stored `url` keeps the fragment, so a comment's link opens the
    comment. (Which article an entry joins also depends on what its feed carried before:
    `Writer.add_article`.) The title is capped (`models.cap_title`); the text is kept whole.
    """
    address = entry.link.partition("#")[0]  # entry.link is canonical: this is its canonical URL
    if address and entry.link != home:
        aid = article_key("url", address)
    else:
        aid = entry_key(entry, feed, home=home)
    published, flag = entry.published, ""
    if published is None:
        published, flag = seen, "missing"
    elif published > seen + FUTURE_SLACK:
        published, flag = seen, "future"
    return Article(
        id=aid,
        url=entry.link,
        title=cap_title(entry.title),  # at most TITLE_MAX_CHARS; the text is kept whole
        text=entry.text,
        published=published,
        first_seen=seen,
        author=entry.author,
        feed=feed,
        date_flag=flag,
    )


def next_poll(
    state: FeedState, interval: timedelta, result: FetchResult, now: datetime
) -> datetime | None:
    """When to poll a feed again after `result` (None: not until its entry changes).

    The feed's interval, longer after failures (doubling, up to MAX_BACKOFF) and when the
    server asks: Retry-After up to MAX_BACKOFF, max-age / Expires up to MAX_CACHE_HINT. Server
    values are taken as untrusted numbers: negative, NaN or infinite ones never overflow.
    """
    if result.outcome == "gone":
        return None
    base = interval.total_seconds()
    wait = base
    if result.outcome == "failed":
        doubled = base * 2.0 ** min(max(state.failures - 1, 0), 16)
        wait = max(min(doubled, MAX_BACKOFF.total_seconds()), base)
    else:
        wait = max(wait, _server_wait(result.max_age, MAX_CACHE_HINT))
    wait = max(wait, _server_wait(result.retry_after, MAX_BACKOFF))
    return _after(now, wait)


def latest_next_poll(interval: timedelta, now: datetime) -> datetime:
    """The latest next poll any rule of `next_poll` can give a feed polled `now`."""
    return _after(now, max(interval, MAX_BACKOFF).total_seconds())


def sane_next_poll(value: object, interval: timedelta, now: datetime) -> datetime:
    """A stored next poll made safe to schedule on: naive times are UTC, anything that is not
    a time means now, and a time further away than any rule could have set (a damaged or
    hand-edited manifest, year 9999) is brought back to the latest one allowed."""
    if not isinstance(value, datetime):
        return now
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    latest = latest_next_poll(interval, now)
    if value > latest:
        return latest
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset: long past
        return now


def _server_wait(seconds: float | None, limit: timedelta) -> float:
    """A wait a server asked for, in seconds, within 0 and `limit` (0 when absent or NaN)."""
    if seconds is None or math.isnan(seconds):
        return 0.0
    return min(max(seconds, 0.0), limit.total_seconds())


def _after(now: datetime, seconds: float) -> datetime:
    """`now` plus a wait, stopping at the last representable time instead of overflowing."""
    latest = datetime.max.replace(tzinfo=UTC)
    if seconds >= (latest - now).total_seconds():
        return latest
    return now + timedelta(seconds=seconds)


def is_due(feed: FeedConfig, state: FeedState | None, now: datetime) -> bool:
    if not feed.enabled:
        return False
    if state is None:
        return True
    if state.gone and state.entry_hash == feed.entry_hash:
        return False
    return state.next_poll is None or state.next_poll <= now or state.entry_hash != feed.entry_hash


# --------------------------------------------------------------------------------------------
# Results


@dataclass
class PollSummary:
    ok: int = 0
    unchanged: int = 0
    failed: int = 0
    gone: int = 0
    new_articles: int = 0
    new_mentions: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (feed name, error)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (feed name, new URL)
    seconds: float = 0.0
    pages: dict[str, int] = field(default_factory=dict)  # pages read, by outcome (pages.py)

    @property
    def feeds(self) -> int:
        return self.ok + self.unchanged + self.failed + self.gone

    def add(self, other: PollSummary) -> None:
        for name in ("ok", "unchanged", "failed", "gone", "new_articles", "new_mentions"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors
        self.moved += other.moved
        self.seconds += other.seconds
        for status, n in other.pages.items():
            self.pages[status] = self.pages.get(status, 0) + n


Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------------------------
# The poller


class Poller:
    """Polls the feeds of a config into a store. Use one per store (see Store.poller_lock)."""

    def __init__(
        self,
        config: Config,
        store: Store | None = None,
        *,
        now: Callable[[], datetime] = utc_now,
        log: Callable[[str], None] | None = None,
        on_commit: Callable[[Snapshot, Config, datetime], None] | None = None,
        tone: bool = True,
        name: str = "",
        parse_worker: bool | None = None,
    ):
        self.config = config
        self.on_commit = on_commit  # after each commit, e.g. delivery.Dispatcher.on_commit
        self._config_stamp = file_stamp(config.path)
        self.store = store or open_store(config.store)
        self.now = now
        self.log = log or (lambda msg: None)
        self.name = poller_name(name)
        self.tone = tone  # score the tone of mentions (the slowest analysis; see tone.py)
        # built when first needed (`matcher`, `enricher`): a poll where nothing is new never
        # builds the automaton, VADER's lexicon or the story index (nor imports numpy)
        self._matcher: Matcher | None = None
        self._enricher: Enricher | None = None
        self._holding = False  # a round is running: its stories are held (see `poll`)
        self._fingerprints: tuple[object, str, str] | None = None  # see `fingerprint`
        self.writer: Writer | None = None
        self.states: dict[str, FeedState] = {}
        self._busy: dict[str, datetime] = {}  # feeds another poller is fetching: until when
        self._recounted_for = ""  # the watchlist fingerprint of this poller's last recount
        self._warned_for = ""  # the store's fingerprint this poller warned about
        self._stories_seen = now()  # when the story index last took in the store's articles
        self._stories_seeded = False  # see `open`
        self.pages = PageReader(config.poll, now=now)
        self.page_outcomes: dict[str, int] = {}  # since the last PollSummary that reported them
        # feed -> {article id: published} of the pages not tried yet (FeedState.pages_pending)
        self._unread: dict[str, dict[int, datetime]] = {}
        self._last_commit = time.monotonic()
        # parse in a worker process: always (True), never (False), or when a round is worth it
        self.parse_worker = parse_worker
        self._aside = False  # whether this round parses in the worker (see `_parse_aside`)
        self._parser: FeedParser | None = None

    # set-up ------------------------------------------------------------------------------
    def open(self, progress: Progress | None = None) -> None:
        """Open the writer (the store reads its dedup index when the first article is added),
        load the feed state and the page queue; recount mentions if the watchlist changed."""
        self.writer = self.store.writer(log=self.log, poller=self.name)
        if self.writer.damaged:  # quarantined by a commit now, before anything reads them
            self.writer.commit()
        snap = self.store.snapshot()
        self.states = {key: replace(st) for key, st in self.writer.current_states(None).items()}
        now, every = self.now(), self.config.poll.every
        intervals = {f.key: f.interval(every) for f in self.config.feeds}
        for key, st in self.states.items():
            if st.next_poll is None and st.gone:  # not polled until its entry changes
                continue
            sane = sane_next_poll(st.next_poll or now, intervals.get(key, every), now)
            if sane != st.next_poll:
                st.next_poll = sane
                self.writer.set_feed(st)  # stored with the next commit
        if snap.rows("articles") and snap.fingerprint != self.fingerprint:
            # the same analyses, another watchlist: recount mentions, keep stories and names
            full = not snap.fingerprint.endswith(self._analyses_part())
            what = "the analyses changed: reanalysing" if full else "the watchlist changed"
            self.log(f"{what}: recounting mentions in {snap.rows('articles'):,} articles")
            self.rematch(progress, full=full, force=False)
        # the story index (the articles of the last days) is filled when the first new article
        # needs it (`_seed_stories`): a pass where nothing is new never pays for it
        self._stories_seeded = self._enricher is not None and bool(len(self._enricher.stories))
        self._stories_seen = self.now()
        if snap.rows("pages"):  # pages queued or to be tried again, from an earlier run
            jobs = jobs_from_rows(pages_to_read(snap), now)
            self.pages.load(jobs)
            for job in jobs:
                if job.attempts == 0:
                    self._unread.setdefault(job.feed, {})[job.article_id] = job.published
        for key, st in self.states.items():  # what is still unread, as the store has it
            if st.pages_pending is not None or key in self._unread:
                self._note_unread(key)

    def warm_up(self) -> None:
        """Before the first round of a poller that keeps running (`run`): start the parse
        worker (if the feeds and this machine call for one) and fill the story index from the
        store's last days, which the first round with new articles would otherwise do while
        its feeds wait (into 2M articles in PostgreSQL: the first round of two pollers took
        7.0 s, the next ones 4.5-4.9 s, the index's seeding the largest part of the gap)."""
        if self.writer is None:
            self.open()
        if self._parse_worker_wanted(sum(1 for f in self.config.feeds if f.enabled)):
            self._start_parser()  # (returns at once: it comes up while the index fills)
            self._parser = None  # the worker stays up; each round takes a handle of its own
        self._seed_stories()

    @property
    def matcher(self) -> Matcher:
        """The watchlist's matcher, built on first use."""
        if self._matcher is None:
            from .match import Matcher

            self._matcher = Matcher(self.config.watch)
        return self._matcher

    @property
    def enricher(self) -> Enricher:
        """The analyses of new articles (counts, tone, stories, names), built on first use."""
        if self._enricher is None:
            from .enrich import Enricher

            self.enricher = Enricher(self.matcher, tone=self.tone)
        assert self._enricher is not None
        return self._enricher

    @enricher.setter
    def enricher(self, enricher: Enricher) -> None:
        if self._holding:  # made during a round: the round's articles stay in its index
            enricher.stories.hold()
        self._enricher = enricher

    @property
    def fingerprint(self) -> str:
        """The watchlist's and the analyses' fingerprint, as recorded in the store (that of
        `enrich.fingerprint(self.matcher)`, without building the matcher)."""
        watch = self.config.watch
        if self._fingerprints is None or self._fingerprints[0] is not watch:
            from .enrich import fingerprint_of
            from .match import watchlist_fingerprint

            self._fingerprints = (watch, watchlist_fingerprint(watch), fingerprint_of(watch))
        return self._fingerprints[2]

    def _analyses_part(self) -> str:
        """What `fingerprint` adds to the watchlist's own: the analyses' version."""
        full = self.fingerprint
        assert self._fingerprints is not None
        return full[len(self._fingerprints[1]) :]

    def rematch(
        self, progress: Progress | None = None, *, full: bool = True, force: bool = True
    ) -> int:
        """Recount mentions and their tone from all the stored text; with `full`, also the
        stories and names (else those stored are kept: only the watchlist changed). Without
        `force`, nothing is done when the store's analyses are this poller's already
        (another poller sharing the store just did them)."""
        self._recounted_for = self.fingerprint
        if not full:
            return self.store.replace_analyses(
                self.enricher.recount,
                self.config.watch,
                self.fingerprint,
                progress,
                mentions_only=True,
                log=self.log,
                force=force,
            )
        from .enrich import Enricher

        enricher = Enricher(self.matcher, tone=self.tone)  # stories afresh, in time order
        rows = self.store.replace_analyses(
            enricher.batch,
            self.config.watch,
            self.fingerprint,
            progress,
            log=self.log,
            force=force,
        )
        if not len(enricher.stories):  # nothing recomputed here (another poller did it)
            enricher.seed(_queries().story_seeds(self.store.snapshot(), enricher.stories))
        self.enricher = enricher  # its story index now holds the latest articles
        self._stories_seeded = True
        self._stories_seen = self.now()
        return rows

    def _hold_stories(self) -> None:
        """Keep the articles of the round in the story index until it ends (see
        `StoryAssigner.hold`), also those of an enricher made during the round."""
        self._holding = True
        if self._enricher is not None:
            self._enricher.stories.hold()

    def _release_stories(self) -> None:
        self._holding = False
        if self._enricher is not None:
            self._enricher.stories.release()

    def _seed_stories(self) -> None:
        """Fill the story index with the store's articles of the last days, once."""
        if self._stories_seeded:
            return
        self._stories_seeded = True
        snap = self.store.snapshot()
        if not snap.rows("articles"):  # a new store: nothing to seed (nor pandas to import)
            return
        rows = _queries().story_seeds(snap, self.enricher.stories)
        self.enricher.seed(r for r in rows if r[0] not in self.enricher.stories)

    def refresh_stories(self) -> None:
        """Add to the story index the articles other pollers sharing the store stored since
        the last look, so that a copy this poller meets joins their story."""
        if not self._stories_seeded:  # seeding will read them all
            return
        since = self._stories_seen - STORY_REFRESH_SLACK
        self._stories_seen = self.now()
        rows = _queries().story_seeds(
            self.store.snapshot(), self.enricher.stories, seen_since=since
        )
        self.enricher.seed(r for r in rows if r[0] not in self.enricher.stories)

    def reload_config(self) -> None:
        """Pick up edits to feeds.yaml between polls; a broken file keeps the old config."""
        stamp = file_stamp(self.config.path)
        if stamp is not None and stamp == self._config_stamp:
            return
        self._config_stamp = stamp
        try:
            config = load_config(self.config.path)
        except ConfigError as exc:
            self.log(f"feeds.yaml has errors; still using the previous version:\n{exc}")
            return
        if config == self.config:
            return
        self.log("feeds.yaml changed: reloaded")
        watch_changed = config.watch != self.config.watch
        self.config = config
        if watch_changed:
            self._commit()  # pages read meanwhile were counted with the old watchlist
            self._matcher = None  # built again from the new watchlist
            if self._enricher is not None:
                self._enricher.matcher = self.matcher
            self.log("the watchlist changed: recounting mentions")
            self.rematch(full=False, force=False)

    # polling -----------------------------------------------------------------------------
    def due_feeds(self, *, all_enabled: bool = False) -> list[FeedConfig]:
        """The feeds to poll now, as far as this poller knows (`poll` then claims them)."""
        now = self.now()
        return [
            f
            for f in self.config.feeds
            if f.enabled
            and (all_enabled or is_due(f, self.states.get(f.key), now))
            and not (all_enabled and self._gone(f))
            and not self._is_busy(f.key)
        ]

    def _is_busy(self, key: str) -> bool:
        until = self._busy.get(key)
        if until is None:
            return False
        if until <= datetime.now(UTC):  # leases are on the real clock, whatever `now` says
            del self._busy[key]
            return False
        return True

    def refresh_states(self) -> None:
        """Take in the feed state other pollers sharing the store committed."""
        if self.writer is None:
            return
        for key, st in self.writer.current_states(None).items():
            self.states[key] = replace(st)

    def _claim(self, feeds: list[FeedConfig], when: str) -> list[FeedConfig]:
        """Of `feeds`, those this poller is to fetch now: the store gives each feed to one
        poller at a time (see `Writer.claim`), judged on its latest state: `when` is "due"
        (due now), "enabled" (not gone) or "given" (whatever its state)."""
        assert self.writer is not None
        by_key = {f.key: f for f in feeds}
        now = self.now()

        def due(st: FeedState | None) -> bool:
            if st is None or when == "given":
                return True
            feed = by_key[st.url]
            if when == "enabled":
                return not (st.gone and st.entry_hash == feed.entry_hash)
            return is_due(feed, st, now)

        claim = self.writer.claim(list(by_key), due, now)
        for key, st in claim.won.items():
            if st is not None:
                self.states[key] = replace(st)
        self._busy.update(claim.busy)
        return [f for f in feeds if f.key in claim.won]

    def _gone(self, feed: FeedConfig) -> bool:
        st = self.states.get(feed.key)
        return bool(st and st.gone and st.entry_hash == feed.entry_hash)

    async def poll(
        self,
        feeds: list[FeedConfig],
        *,
        stop: asyncio.Event | None = None,
        progress: Progress | None = None,
        when: str = "given",
    ) -> PollSummary:
        """Fetch the given feeds concurrently and store what they carry: those of them this
        poller claims, every one unless another poller sharing the store polls it now (or
        has just polled it, `when` being "due" or "enabled": see `_claim`)."""
        from .fetch import Fetcher  # (before the clock: the poll's time is the poll's)

        if self.writer is None:
            self.open()
        summary = PollSummary()
        started = time.monotonic()
        self.pages.start(self._page_read)
        # Feeds are claimed a batch at a time as fetches finish, so that pollers sharing a
        # store share the work (one claiming every due feed at once would leave the others
        # idle); with the embedded store every claim is won.
        pending = list(feeds)
        batch = max(self.config.poll.concurrency, 1)
        claimed = self._claim(pending[:batch], when)
        del pending[:batch]
        if not claimed and not pending:
            return summary
        if self.store.shared:
            self.refresh_stories()
        total = len(feeds) - (min(batch, len(feeds)) - len(claimed))
        self._aside = self._parse_worker_wanted(total)
        if self._aside and self._parse_worker_wanted(sum(1 for f in feeds if self._first(f))):
            self._start_parser()  # that many new bodies to come: start the worker right away
        async with Fetcher.from_settings(self.config.poll, now=self.now) as fetcher:
            tasks = {asyncio.create_task(self._fetch(fetcher, f)): f for f in claimed}
            waiter = asyncio.create_task(stop.wait()) if stop else None
            last_commit = time.monotonic()
            done_count = 0
            self._hold_stories()  # the round's feeds find each other's copies
            thresholds = _collect_less()
            try:
                while tasks or pending:
                    while pending and len(tasks) <= batch // 2:
                        take = pending[: batch - len(tasks)]
                        del pending[: len(take)]
                        won = self._claim(take, when)
                        total -= len(take) - len(won)  # polled by another poller
                        tasks.update({asyncio.create_task(self._fetch(fetcher, f)): f for f in won})
                    if not tasks:
                        break
                    waiting = set(tasks) | ({waiter} if waiter else set())
                    done, _ = await asyncio.wait(
                        waiting, timeout=COMMIT_EVERY, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in done - {waiter}:
                        feed = tasks.pop(task)  # type: ignore[arg-type]
                        result, parsed = task.result()  # type: ignore[misc]
                        self._handle(feed, result, summary, parsed)
                        done_count += 1
                    if progress:
                        progress(done_count, total)
                    if waiter in done:
                        break
                    if time.monotonic() - last_commit > COMMIT_EVERY:
                        self._commit(later=True)  # the round goes on meanwhile
                        assert self.writer is not None
                        self.writer.heartbeat()
                        last_commit = time.monotonic()
            finally:
                for task in tasks:
                    task.cancel()
                if waiter:
                    waiter.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._commit()
                assert self.writer is not None
                self.writer.release()
                self._release_stories()
                self._aside, self._parser = False, None
                _collect_as_before(thresholds)
        summary.seconds = time.monotonic() - started
        summary.pages, self.page_outcomes = self.page_outcomes, {}
        return summary

    async def poll_once(
        self, *, stop: asyncio.Event | None = None, progress: Progress | None = None
    ) -> PollSummary:
        """Poll every enabled feed once, now (feeds marked gone excepted), then read the pages
        that are due (first tries, and retries whose time has come)."""
        if self.writer is None:
            self.open(progress=None)
        self.refresh_states()
        feeds = self.due_feeds(all_enabled=True)
        summary = await self.poll(feeds, stop=stop, progress=progress, when="enabled")
        summary.add(PollSummary(pages=await self.read_pages(stop)))
        return summary

    async def read_pages(
        self,
        stop: asyncio.Event | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, int]:
        """Read every page that is due now (retries due later wait), commit, and stop the
        reader; the pages read, by outcome (since the last poll's summary). `progress` gets
        (pages tried so far, pages due) every second."""
        if self.writer is None:
            self.open()
        self.pages.start(self._page_read)
        reporter = asyncio.ensure_future(self._report_pages(progress)) if progress else None
        try:
            await self.pages.drain(stop)
        finally:
            if reporter is not None:
                reporter.cancel()
            await self.pages.stop()
            self._commit()
        outcomes, self.page_outcomes = self.page_outcomes, {}
        return outcomes

    async def run(
        self,
        stop: asyncio.Event,
        *,
        on_poll: Callable[[PollSummary], None] | None = None,
        reload: bool = True,
    ) -> None:
        """Poll each feed at its interval until `stop` is set."""
        self.warm_up()
        self.pages.start(self._page_read)
        try:
            while not stop.is_set():
                if reload:
                    self.reload_config()
                self.refresh_states()
                feeds = self.due_feeds()
                if feeds:
                    summary = await self.poll(feeds, stop=stop, when="due")
                    if on_poll:
                        on_poll(summary)
                elif self.writer is not None and self.writer.pending:
                    self._commit()  # pages read since the last commit
                delay = self._seconds_to_next()
                if self.pages.queued:  # pages being read: commit what they give as it comes
                    delay = min(delay, COMMIT_EVERY)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
        finally:
            await self.pages.stop()
            self._commit()

    def _seconds_to_next(self) -> float:
        now = self.now()
        times = [
            st.next_poll
            for f in self.config.feeds
            if f.enabled
            and (st := self.states.get(f.key))
            and st.next_poll
            and not self._gone(f)
            and not self._is_busy(f.key)
        ]
        # a feed another poller is fetching: look again when its lease ends
        busy = [until for key, until in self._busy.items() if key in self._keys()]
        if busy:
            wake = min(busy) - datetime.now(UTC)
            times.append(now + max(wake, timedelta(seconds=0)))
        if any(
            f.enabled and f.key not in self.states and not self._is_busy(f.key)
            for f in self.config.feeds
        ):
            return 0.0
        if not times:
            return 60.0
        return min(max((min(times) - now).total_seconds(), 0.5), 60.0)

    def _keys(self) -> set[str]:
        return {f.key for f in self.config.feeds if f.enabled}

    async def _report_pages(self, progress: Callable[[int, int], None]) -> None:
        while True:
            progress(self.pages.attempts, self.pages.due())
            await asyncio.sleep(1.0)

    def _parse_worker_wanted(self, feeds: int) -> bool:
        if self.parse_worker is not None:
            return self.parse_worker
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cpus = os.cpu_count() or 1
        return feeds >= PARSE_ASIDE_FEEDS and cpus >= 2

    # one feed ----------------------------------------------------------------------------
    async def _fetch(
        self, fetcher: Fetcher, feed: FeedConfig
    ) -> tuple[FetchResult, ParsedBody | MonitorError | None]:
        """The feed fetched and, when the round parses in the worker, its body parsed."""
        try:
            request = self._request(feed)
        except MonitorError as exc:  # a ${VAR} gone from the environment since the check
            failed = FetchResult(url=feed.key, outcome="failed", error=str(exc), started=self.now())
            return failed, None
        result = await fetcher.fetch(request)
        return result, await self._parse_aside(feed, result)

    async def _parse_aside(
        self, feed: FeedConfig, result: FetchResult
    ) -> ParsedBody | MonitorError | None:
        """A new body parsed (and its entries prepared) in the worker process (parsepool.py),
        or the error to report for the feed; None when `_handle` is to parse it here: a body
        seen before, a round that does not use the worker, or a worker not up yet (it starts
        with the first body)."""
        if not self._aside or result.outcome != "ok" or result.body is None:
            return None
        st = self.states.get(feed.key)
        if st is not None and st.body_hash == _body_hash(result.body):
            return None
        parser = self._start_parser()
        if not parser.ready:
            return None
        try:
            return await parser.parse(result.body, _base_url(feed, result), result.content_type)
        except MonitorError as exc:
            return exc

    def _start_parser(self) -> FeedParser:
        """This round's handle on the parse worker, which is started if it is not up (and,
        with `COUNT_ASIDE`, given the watchlist and tone setting to count and score with)."""
        if self._parser is None:
            from .parsepool import Analysis, FeedParser

            analysis = None
            if COUNT_ASIDE:  # (else the worker needs no analyses: none is built for it)
                analysis = Analysis(self.enricher.analysis, tuple(self.config.watch), self.tone)
            self._parser = FeedParser(analysis=analysis)
            self._parser.start()
        return self._parser

    def _first(self, feed: FeedConfig) -> bool:
        """Whether no body of `feed` was ever stored (so the next one is new)."""
        st = self.states.get(feed.key)
        return st is None or st.body_hash is None

    def _request(self, feed: FeedConfig) -> FetchRequest:
        """The request for the fetcher: the real URL, and the values it must hide."""
        url, hidden = feed.fetch_url(), tuple(feed.env_values())
        st = self.states.get(feed.key)
        if st is None or (st.entry_hash != feed.entry_hash and st.gone):
            return FetchRequest(url, secrets=hidden)
        return FetchRequest(url, etag=st.etag, last_modified=st.last_modified, secrets=hidden)

    def _handle(
        self,
        feed: FeedConfig,
        result: FetchResult,
        summary: PollSummary,
        parsed: ParsedBody | MonitorError | None = None,
    ) -> None:
        """Store what a fetch gave (`parsed`: its body parsed already, see `_parse_aside`)."""
        assert self.writer is not None
        now = self.now()
        st = self.states.get(feed.key) or FeedState(url=feed.key)
        self.states[feed.key] = st  # (its pages, queued while ingesting, note their time in it)
        st.name, st.tags, st.entry_hash = feed.name, list(feed.tags), feed.entry_hash
        st.poller = self.name
        new_articles = 0
        if result.outcome == "ok" and result.body is not None:
            body_hash = _body_hash(result.body)
            if body_hash == st.body_hash:
                result.outcome = "unchanged"
            else:
                try:
                    new_articles, new_mentions = self._ingest(
                        feed,
                        result.body,
                        _base_url(feed, result),
                        now,
                        result.content_type,
                        st,
                        parsed,
                    )
                    summary.new_mentions += new_mentions
                    st.body_hash = body_hash
                except MonitorError as exc:  # may name the URL, ${VAR} values and all
                    result.outcome = "failed"
                    result.error = redact_text(str(exc), feed.env_values())
        self._update_state(st, feed, result, now, new_articles)
        self.writer.set_feed(st)
        self.states[feed.key] = st
        self.writer.add_fetch(
            {
                "feed": feed.key,
                "time": (result.started or now).astimezone(UTC).replace(tzinfo=None),
                "status": result.status,
                "outcome": result.outcome,
                "bytes": result.bytes,
                "new_articles": new_articles,
                "duration": result.duration,
                "error": result.error,
            }
        )
        summary.new_articles += new_articles
        setattr(summary, result.outcome, getattr(summary, result.outcome) + 1)
        if result.outcome == "failed":
            summary.errors.append((feed.name, result.error))
        if result.moved_to:
            summary.moved.append((feed.name, result.moved_to))

    def _ingest(
        self,
        feed: FeedConfig,
        body: bytes,
        base_url: str,
        now: datetime,
        content_type: str = "",
        state: FeedState | None = None,
        parsed: ParsedBody | MonitorError | None = None,
    ) -> tuple[int, int]:
        assert self.writer is not None
        if isinstance(parsed, MonitorError):  # the worker's verdict on the body
            raise parsed
        if parsed is None:
            feed_read, prepared = parse_feed(body, base_url, content_type), None
        else:
            feed_read, prepared = parsed
        full_text = self._full_text(feed, feed_read.entries, state)
        items = [
            (
                make_article(entry, feed.key, now, home=feed_read.link),
                entry_key(entry, feed.key, home=feed_read.link),
            )
            for entry in feed_read.entries
        ]
        # what the store holds of these already (a shared store: also what others stored)
        self.writer.prepare(feed.key, [k for article, key in items for k in (article.id, key)])
        new: list[Article] = []
        ready: list[Prepared] = []  # the new articles' `prepared` entries
        for i, (article, key) in enumerate(items):
            stored = self.writer.add_article(article, feed.key, now, key)
            if stored is not None:  # (its title and text are the entry's: see make_article)
                new.append(stored)
                if prepared is not None:
                    ready.append(prepared[i])
        mentions = 0
        for article, e in zip(new, self._enrich(new, ready if prepared else None), strict=True):
            mentions += len(e.counts)
            if full_text:
                self._queue_page(article, now, e.story, feed.key)
        return len(new), mentions

    def _enrich(
        self, articles: list[Article], prepared: list[Prepared] | None = None
    ) -> list[Enrichment]:
        """Count, score and group a feed's new articles together (see enrich.py; `prepared`:
        their signatures and names, from the parse worker); they are buffered with their
        analyses, so a commit has both or neither."""
        assert self.writer is not None
        rows = [(a.id, a.published, a.title, a.text, a.feed) for a in articles]
        self._seed_stories()
        out = self.enricher.articles(rows, prepared)
        for article, e in zip(articles, out, strict=True):
            self.writer.add_story_and_names(article, e.story, e.names)
            self.writer.add_mentions(article, e.counts, e.tones, e.story)
        return out

    def _update_state(
        self, st: FeedState, feed: FeedConfig, result: FetchResult, now: datetime, new: int
    ) -> None:
        st.last_poll = now
        st.last_outcome = result.outcome
        st.last_status = result.status
        st.last_error = result.error
        st.last_new = new
        st.moved_to = result.moved_to
        st.gone = result.outcome == "gone"
        if result.outcome in ("ok", "unchanged"):
            st.failures = 0
            st.last_success = now
            if result.etag or result.last_modified:
                st.etag, st.last_modified = result.etag, result.last_modified
        elif result.outcome == "failed":
            st.failures += 1
        st.next_poll = next_poll(st, feed.interval(self.config.poll.every), result, now)

    # full text ---------------------------------------------------------------------------
    def _full_text(self, feed: FeedConfig, entries: list[Entry], state: FeedState | None) -> bool:
        """Whether this poll's new articles of `feed` get their pages read (pages.py rule);
        the decision and what it rests on are kept in the feed's state."""
        setting = feed.full_text if feed.full_text is not None else self.config.poll.full_text
        median = median_chars(e.text for e in entries)
        on = wants_full_text(setting, median)
        if state is not None:
            state.full_text = on
            if median is not None:
                state.entry_chars = median
        return on

    def _queue_page(self, article: Article, now: datetime, story: int, feed: str) -> None:
        assert self.writer is not None
        url = page_url(article.url)
        if url is None:
            return
        job = PageJob(
            due=now,
            article_id=article.id,
            url=url,
            title=article.title,
            feed_chars=len(article.text),
            published=article.published,
            story=story,
            feed=feed,
        )
        self.writer.add_page(job.queued_row(now))
        self.pages.add(job)
        self._unread.setdefault(feed, {})[article.id] = article.published
        st = self.states.get(feed)  # pages_pending is the oldest of _unread[feed] (see open)
        if st is not None and (st.pages_pending is None or article.published < st.pages_pending):
            st.pages_pending = article.published  # the new oldest: no need to look further
            self.writer.set_feed(st)

    def _note_unread(self, feed: str) -> None:
        """Keep in the feed's state when its oldest article whose page is untried was
        published: alerts do not read the hours after it yet (alerts.caught_up)."""
        st = self.states.get(feed)
        if st is None or self.writer is None:
            return
        unread = self._unread.get(feed)
        oldest = min(unread.values()) if unread else None
        if oldest != st.pages_pending:
            st.pages_pending = oldest
            self.writer.set_feed(st)

    def _page_read(self, outcome: PageOutcome) -> None:
        """Record an attempt at a page; a page read replaces the article's mentions."""
        if self.writer is None:
            return
        self.writer.add_page(outcome.row())
        job = outcome.job
        unread = self._unread.get(job.feed)
        if outcome.attempt == 1 and unread and job.article_id in unread:
            published = unread.pop(job.article_id)
            st = self.states.get(job.feed)
            if st is not None and (not unread or published == st.pages_pending):
                self._note_unread(job.feed)  # it was the oldest: look for the next oldest
        if outcome.status == "ok":
            e = self.enricher.reread(
                job.article_id, job.published, job.title, outcome.text, job.story
            )
            self.writer.recount_article(
                job.article_id, job.published, e.counts, e.tones, e.story, e.names
            )
        self.page_outcomes[outcome.status] = self.page_outcomes.get(outcome.status, 0) + 1
        if time.monotonic() - self._last_commit > COMMIT_EVERY:
            self._commit()

    def _commit(self, later: bool = False) -> None:
        """Commit what is buffered; `later`: in the background where the store can, while
        the round goes on (Writer.commit_later: the commit before is handled now)."""
        assert self.writer is not None
        self._last_commit = time.monotonic()
        watchlist = (self.config.watch, self.fingerprint)
        if later:
            done = self.writer.commit_later(watchlist=watchlist)
            if done is not None:
                self._committed(done)
        elif self.writer.pending or self.writer.feed_states or self.writer.committing:
            self._committed(self.writer.commit(watchlist=watchlist))

    def _committed(self, snap: Snapshot) -> None:
        """After a commit: recount if the store asks, warn or recount if another poller
        counted with another watchlist, then `on_commit`."""
        assert self.writer is not None
        if self.writer.needs_recount:  # a damaged file was quarantined (see store/parquet.py)
            self.writer.needs_recount = False
            self.rematch()
            snap = self.store.snapshot()
        elif self.writer.other_analyses:
            # another poller sharing the store counted with another watchlist
            self.writer.other_analyses = False
            if self._recounted_for != self.fingerprint:
                suffix = self._analyses_part()
                self.rematch(full=not snap.fingerprint.endswith(suffix), force=False)
                snap = self.store.snapshot()
            elif self._warned_for != snap.fingerprint:
                self._warned_for = snap.fingerprint
                self.log(
                    "the store's mentions were counted with another watchlist by another "
                    "poller: feeds.yaml differs between the pollers sharing this store; "
                    "this poller recounts again when its feeds.yaml changes"
                )
        if self.on_commit:
            self.on_commit(snap, self.config, self.now())


def _collect_less() -> tuple[int, ...]:
    """Collect garbage less often while a round runs (returns the thresholds to restore).

    A round allocates many objects that live until the next commit (articles, their rows),
    which the young generation's collections (every 700 allocations by default) go through
    again and again: ~0.3 s of 3 in a cold ingest of 10,000 articles, half that at
    GC_YOUNG. Reference counting frees nearly everything else at once whatever the setting.
    """
    import gc

    old = gc.get_threshold()
    gc.set_threshold(max(old[0], GC_YOUNG), *old[1:])
    return old


def _collect_as_before(thresholds: tuple[int, ...]) -> None:
    import gc

    gc.set_threshold(*thresholds)


def _body_hash(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def _base_url(feed: FeedConfig, result: FetchResult) -> str:
    """What a feed's relative links resolve against: the URL its body came from, minus any
    user info."""
    return without_userinfo(result.final_url or feed.key)


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set `stop`: the poller finishes the writes in flight, then returns."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
