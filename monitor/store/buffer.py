"""What both writers share: the rows of a commit being prepared, and the dedup index that
decides whether an entry is new (see docs/design.md, "An entry's identity").

The index holds 64-bit keys: article ids, (article, feed) pairs hashed together, and entry
keys (the `entry` column of `sources`). The embedded store loads it from its files; the
PostgreSQL writer fills it with what it looks up (`prepare`) and what it writes, while the
database's unique keys keep the last word under races between pollers.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..lazy import lazy_module
from ..models import Article, FeedState
from .base import Log, Writer
from .schema import article_key, utc_naive

if TYPE_CHECKING:
    import numpy as np
else:  # imported when the index first holds a key: a writer that adds no article never does
    np = lazy_module("numpy", globals(), "np")

_EPOCH = datetime(1970, 1, 1)


@functools.lru_cache(maxsize=4096)
def feed_hash(feed: str) -> np.int64:
    return np.int64(article_key("feed", feed))


class IdSet:
    """Membership of 64-bit keys: a sorted numpy array plus a set of recent additions."""

    def __init__(self) -> None:
        self.sorted: np.ndarray | tuple[()] = ()  # (an array once a key is added)
        self.recent: set[int] = set()

    def add_array(self, keys: np.ndarray) -> None:
        # Sort and drop repeats by hand: np.unique took 4.3 s on 4M keys here, this 0.13 s.
        keys = keys.astype(np.int64)
        merged = np.sort(np.concatenate([self.sorted, keys]) if len(self.sorted) else keys)
        keep = np.ones(len(merged), dtype=bool)
        keep[1:] = merged[1:] != merged[:-1]
        self.sorted = merged[keep]

    def __contains__(self, key: int) -> bool:
        if key in self.recent:
            return True
        if not len(self.sorted):  # (a new store) numpy's call costs more than the answer
            return False
        i = np.searchsorted(self.sorted, key)
        return bool(i < len(self.sorted) and self.sorted[i] == key)

    def add(self, key: int) -> None:
        self.recent.add(key)
        if len(self.recent) > 200_000:
            self.add_array(np.fromiter(self.recent, dtype=np.int64))
            self.recent.clear()

    def __len__(self) -> int:
        return len(self.sorted) + len(self.recent)


def source_key(article_id: int, feed: str) -> int:
    return int(np.int64(article_id) ^ feed_hash(feed))


class LegacySources:
    """(article, feed) pairs of `sources` rows without an entry key, with when they were seen.

    Only stores written before the `entry` column have them; a pair that also has a row with
    an entry key is not legacy (that row says which entry it was).
    """

    def __init__(self) -> None:
        self.keys: np.ndarray | tuple[()] = ()  # (arrays once a pair is added)
        self.seen_us: np.ndarray | tuple[()] = ()

    def add(self, pairs: np.ndarray, seen_us: np.ndarray, keyed: np.ndarray) -> None:
        if not len(pairs) and not (len(keyed) and len(self.keys)):
            return
        keys, seen = pairs.astype(np.int64), seen_us.astype(np.int64)
        if len(self.keys):
            keys = np.concatenate([self.keys, keys])
            seen = np.concatenate([self.seen_us, seen])
        order = np.lexsort((seen, keys))  # by pair, earliest sighting first
        keys, seen = keys[order], seen[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        keys, seen = keys[first], seen[first]
        drop = np.isin(keys, keyed)
        self.keys, self.seen_us = keys[~drop], seen[~drop]

    def seen(self, pair: int) -> datetime | None:
        """When the pair was first seen (naive UTC), if it is a legacy pair."""
        if not len(self.keys):
            return None
        i = int(np.searchsorted(self.keys, pair))
        if i < len(self.keys) and self.keys[i] == pair:
            return _EPOCH + timedelta(microseconds=int(self.seen_us[i]))
        return None


class BufferedWriter(Writer):
    """Buffers new rows and keeps the dedup index; subclasses commit them.

    Dedup: an article is known by its id; the pair (article, feed) by a hash of both, so an
    article carried by a second feed adds a `sources` row and nothing else; and an entry of a
    feed by its key (the `entry` column of `sources`), so an entry seen again is recognised
    even when its link changed.
    """

    def __init__(self, log: Log | None = None):
        self.log = log or (lambda msg: None)
        self.articles = IdSet()
        self.sources = IdSet()
        self.entries = IdSet()
        self.legacy = LegacySources()
        self.needs_recount = False
        self._reset_buffers()

    def _reset_buffers(self) -> None:
        self.new_articles: list[Article] = []
        self.new_sources: list[tuple[int, str, datetime, int | None]] = []
        self.new_mentions: list[tuple[int, str, int, datetime, float | None, int | None]] = []
        self.new_stories: list[tuple[int, int, datetime]] = []
        self.new_names: list[tuple[int, str, str, datetime]] = []
        self.new_fetches: list[dict[str, Any]] = []
        self.feed_states: dict[str, FeedState] = {}
        self.source_counts: dict[str, int] = {}
        self.new_pages: list[dict[str, Any]] = []
        # article id -> (publication time, mention rows, name rows): counted again on its page
        self.recounted: dict[int, tuple[datetime, list[tuple[Any, ...]], list[tuple[Any, ...]]]]
        self.recounted = {}

    def _forget(self) -> None:
        """Empty the dedup index (a commit failed: what it held may not be stored)."""
        self.articles, self.sources, self.entries = IdSet(), IdSet(), IdSet()
        self.legacy = LegacySources()

    def _remember_buffered(self) -> None:
        """Put the rows still buffered back into the index (after `_forget` and a reload)."""
        for a in self.new_articles:
            self.articles.add(a.id)
        for aid, feed, _, entry in self.new_sources:
            self.sources.add(source_key(aid, feed))
            if entry is not None:
                self.entries.add(entry)

    # buffering ---------------------------------------------------------------------------
    def add_article(
        self, article: Article, feed: str, seen: datetime, entry: int | None = None
    ) -> Article | None:
        """Record that `feed` carried `article`; return the article if it is new, else None.

        `entry` is the key of the feed's entry (`article.id` when the entry has no URL to be
        known by). With it, an entry of this feed stored before is recognised whatever its
        link now, and an entry whose URL this feed already carried as another entry becomes
        an article of its own, keyed by `entry` (two entries a feed tells apart are never
        merged). Without it, `article.id` alone decides, as for articles of other feeds.
        """
        if entry is not None:
            if entry in self.entries:
                return None
            if article.id != entry and self._carried_as_other_entry(article, feed):
                article = dataclasses.replace(article, id=entry)
            self.entries.add(entry)
        skey = source_key(article.id, feed)
        if skey not in self.sources:
            self.sources.add(skey)
            self.new_sources.append((article.id, feed, utc_naive(seen), entry))
            self.source_counts[feed] = self.source_counts.get(feed, 0) + 1
        if article.id in self.articles:
            return None
        self.articles.add(article.id)
        self.new_articles.append(article)
        return article

    def _carried_as_other_entry(self, article: Article, feed: str) -> bool:
        """Whether `feed` carried the article of this URL as an entry other than this new one.

        Rows written before entries were recorded (`entry` null) cannot say which entry they
        were. Such a row is taken for this entry when the entry is dated no later than the
        row was seen (it existed then); an undated entry, or one published afterwards (a new
        comment on the same page), is another entry. So nothing stored before is duplicated
        by a dated entry, and no entry that came later is merged into an old one.
        """
        skey = source_key(article.id, feed)
        if skey not in self.sources:
            return False
        seen = self.legacy.seen(skey)
        if seen is None:
            return True
        return bool(article.date_flag) or utc_naive(article.published) > seen

    def add_mentions(
        self,
        article: Article,
        counts: Mapping[str, int],
        tones: Mapping[str, float] | None = None,
        story: int | None = None,
    ) -> int:
        published = utc_naive(article.published)
        tones = tones or {}
        for entity, n in counts.items():
            self.new_mentions.append((article.id, entity, n, published, tones.get(entity), story))
        return len(counts)

    def add_story_and_names(
        self, article: Article, story: int, names: Iterable[tuple[str, str]]
    ) -> None:
        """Record an article's story and the names found in it (see stories.py, names.py)."""
        published = utc_naive(article.published)
        self.new_stories.append((article.id, story, published))
        for key, form in names:
            self.new_names.append((article.id, key, form, published))

    def add_fetch(self, row: Mapping[str, Any]) -> None:
        self.new_fetches.append(dict(row))

    def set_feed(self, state: FeedState) -> None:
        self.feed_states[state.url] = state

    # article pages (monitor.pages) ------------------------------------------------------
    def add_page(self, row: Mapping[str, Any]) -> None:
        """Record a row of the `pages` table (see SCHEMAS["pages"]): a page queued or tried."""
        self.new_pages.append(dict(row))

    def recount_article(
        self,
        article_id: int,
        published: datetime,
        counts: Mapping[str, int],
        tones: Mapping[str, float] | None = None,
        story: int | None = None,
        names: Iterable[tuple[str, str]] = (),
    ) -> int:
        """Replace an article's mentions and names, counted again on its page's text: its rows,
        buffered or committed, give way to these in the next commit, so nothing is counted
        twice. (Its story stays: stories are grouped on what feeds carry.)"""
        when = utc_naive(published)
        tones = tones or {}
        self.recounted[article_id] = (
            when,
            [(article_id, e, n, when, tones.get(e), story) for e, n in counts.items()],
            [(article_id, key, form, when) for key, form in names],
        )
        return len(counts)

    def _recounted_rows(self, name: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """A table's buffered rows (mentions, names), the recounted articles' replaced."""
        if not self.recounted:
            return rows
        kept = [r for r in rows if r[0] not in self.recounted]
        for _, mentions, names in self.recounted.values():
            kept.extend(mentions if name == "mentions" else names)
        return kept

    def _stored_recounts(self) -> dict[int, datetime]:
        """The recounted articles whose old rows are in committed files (not in the buffer)."""
        buffered = {a.id for a in self.new_articles}
        return {aid: r[0] for aid, r in self.recounted.items() if aid not in buffered}

    @property
    def pending(self) -> int:
        return (
            len(self.new_articles)
            + len(self.new_sources)
            + len(self.new_fetches)
            + len(self.new_pages)
            + len(self.recounted)
        )
