"""What the poller learns from an article besides its counts: tone, story and names.

`Enricher` bundles the watchlist's `Matcher` (counts, and positions for tone), a `ToneScorer`
(optional: the slowest part), a `StoryAssigner` and the name extractor. The poller calls
`article()` once for each new article; a rematch calls `batch()` on every stored article in
publication order (with a fresh story index), or `recount()` when only the watchlist changed
(stories and names are kept); `seed()` rebuilds the story index from the
store's recent articles when a poller starts.

`fingerprint(matcher)` is what the store records as the state of its analyses: the watchlist's
fingerprint and `VERSION`. A store whose fingerprint differs (another watchlist, or a store
written before an analysis existed or changed) is reanalysed by the poller when it opens.

What it leaves to others: each analysis (match.py, tone.py, stories.py, names.py), storing the
results (store.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from .match import Matcher
from .names import extract_names
from .stories import StoryAssigner
from .tone import ToneScorer

__all__ = ["VERSION", "Enricher", "Enrichment", "fingerprint"]

# Bump when the rules of stories, names or tone change, so that stored results are recomputed.
VERSION = "1"


def fingerprint(matcher: Matcher) -> str:
    return f"{matcher.fingerprint}+a{VERSION}"


@dataclass(frozen=True)
class Enrichment:
    """One article's analyses: mentions per entity, their tone, its story, the names in it."""

    counts: dict[str, int]
    tones: dict[str, float]  # entity -> mean compound score; empty when tone is off
    story: int
    names: list[tuple[str, str]]  # (key, form)


class Enricher:
    """Analyses articles one at a time; keeps the story index between calls."""

    def __init__(
        self, matcher: Matcher, *, tone: bool = True, stories: StoryAssigner | None = None
    ) -> None:
        self.matcher = matcher
        self.tone = ToneScorer() if tone else None
        self.stories = stories if stories is not None else StoryAssigner()

    def article(
        self, article_id: int, published: datetime, title: str, text: str, feed: str = ""
    ) -> Enrichment:
        counts = self.matcher.count(title, text)
        tones: dict[str, float] = {}
        if counts and self.tone is not None:
            tones = self.tone.entity_tones(
                title, text, self.matcher.find(title), self.matcher.find(text)
            )
        story = self.stories.assign(article_id, published, title, text, feed)
        return Enrichment(counts, tones, story, extract_names(title, text))

    def batch(
        self, rows: Iterable[tuple[int, datetime, str, str, str, int | None]]
    ) -> Iterator[tuple[int, Enrichment]]:
        """`article()` for (id, published, title, text, feed, stored story) rows in
        publication order (the stored story is ignored: stories are assigned afresh)."""
        for article_id, published, title, text, feed, _ in rows:
            yield article_id, self.article(article_id, published, title or "", text or "", feed)

    def recount(
        self, rows: Iterable[tuple[int, datetime, str, str, str, int | None]]
    ) -> Iterator[tuple[int, Enrichment]]:
        """Counts and tone only, keeping the stored story (the watchlist changed, nothing
        else); no names (they are kept too)."""
        for article_id, _, title, text, _, story in rows:
            title, text = title or "", text or ""
            counts = self.matcher.count(title, text)
            tones: dict[str, float] = {}
            if counts and self.tone is not None:
                tones = self.tone.entity_tones(
                    title, text, self.matcher.find(title), self.matcher.find(text)
                )
            yield article_id, Enrichment(counts, tones, article_id if story is None else story, [])

    def reread(
        self, article_id: int, published: datetime, title: str, text: str, story: int | None
    ) -> Enrichment:
        """An article analysed again on a longer text of it (its page, read after it was
        stored: pages.py): counts, tone and names from that text; its story stays."""
        ((_, e),) = self.recount([(article_id, published, title, text, "", story)])
        return Enrichment(e.counts, e.tones, e.story, extract_names(title, text))

    def seed(self, rows: Iterable[tuple[int, datetime, str, str, int | None, str]]) -> int:
        """Put the store's recent articles (id, published, title, text, story, feed) back into
        the story index; an article without a stored story is its own. Returns how many."""
        n = 0
        for article_id, published, title, text, story, feed in rows:
            self.stories.add(
                article_id,
                published,
                title or "",
                text or "",
                article_id if story is None else story,
                feed or "",
            )
            n += 1
        return n
