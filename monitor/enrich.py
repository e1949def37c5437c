"""What the poller learns from an article besides its counts: tone, story and names.

`Enricher` bundles the watchlist's `Matcher` (counts, and positions for tone), a `ToneScorer`
(optional: the slowest part), a `StoryAssigner` and the name extractor. The poller calls
`article()` once for each new article; a rematch calls `batch()` on every stored article in
publication order (with a fresh story index), or `recount()` when only the watchlist changed
(stories and names are kept); `seed()` rebuilds the story index from the
store's recent articles when a poller starts.

`prepare()` computes what needs no state (each article's story signature and its names) for
a batch of (title, text) pairs, wherever it runs: the poller has it done in its parse worker
(parsepool.py) and hands the results to `articles()`, which then only looks them up. Given an
`Enricher`, `prepare()` also counts the mentions and scores their tone (the watchlist's and the
tone setting's work, pure too): `articles()` takes those only when they were made with its own
watchlist and tone setting (`Enricher.analysis`), and counts again otherwise.

`fingerprint(matcher)` is what the store records as the state of its analyses: the watchlist's
fingerprint and `VERSION`. A store whose fingerprint differs (another watchlist, or a store
written before an analysis existed or changed) is reanalysed by the poller when it opens.

What it leaves to others: each analysis (match.py, tone.py, stories.py, names.py), storing the
results (monitor/store/).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from .match import Matcher, watchlist_fingerprint
from .models import Entity
from .names import extract_names

if TYPE_CHECKING:
    from .stories import Signature, StoryAssigner

# stories.py (numpy) and tone.py (VADER's lexicon) are imported by the first enricher made:
# the poller makes it for the first new article, so a poll where nothing is new never does.

__all__ = [
    "VERSION",
    "Enricher",
    "Enrichment",
    "Prepared",
    "fingerprint",
    "fingerprint_of",
    "prepare",
]

# Bump when the rules of stories, names or tone change, so that stored results are recomputed.
VERSION = "1"
BATCH = 500  # articles analysed together by a rematch or a rebuild (see `Enricher.articles`)
_T = TypeVar("_T")


def fingerprint(matcher: Matcher) -> str:
    return f"{matcher.fingerprint}+a{VERSION}"


def fingerprint_of(watchlist: Sequence[Entity]) -> str:
    """`fingerprint` of the watchlist's matcher, without building the matcher."""
    return f"{watchlist_fingerprint(watchlist)}+a{VERSION}"


@dataclass(frozen=True)
class Enrichment:
    """One article's analyses: mentions per entity, their tone, its story, the names in it."""

    counts: dict[str, int]
    tones: dict[str, float]  # entity -> mean compound score; empty when tone is off
    story: int
    names: list[tuple[str, str]]  # (key, form)


class Prepared(NamedTuple):
    """What `prepare` computes for one article: its story signature and its names; with an
    `Enricher`, also its mentions and their tone, and that enricher's `analysis`."""

    signature: Signature
    names: list[tuple[str, str]]  # extract_names(title, text)
    counts: dict[str, int] | None = None  # entity -> mentions (None: not counted)
    tones: dict[str, float] | None = None  # entity -> tone ({} with tone off)
    analysis: str = ""  # `Enricher.analysis` of the enricher that counted them


def prepare(items: Sequence[tuple[str, str]], counter: Enricher | None = None) -> list[Prepared]:
    """The analyses of (title, text) pairs that need no state: story signatures (together:
    their numpy work is per batch) and names; with `counter`, also its counts and tones (its
    story index is not touched). Pure."""
    from .stories import signatures

    sigs = signatures(items)
    if counter is None:
        return [
            Prepared(sig, extract_names(title, text))
            for (title, text), sig in zip(items, sigs, strict=True)
        ]
    analysis = counter.analysis
    return [
        Prepared(sig, extract_names(title, text), *counter.counts_and_tones(title, text), analysis)
        for (title, text), sig in zip(items, sigs, strict=True)
    ]


class Enricher:
    """Analyses articles one at a time; keeps the story index between calls."""

    def __init__(
        self, matcher: Matcher, *, tone: bool = True, stories: StoryAssigner | None = None
    ) -> None:
        from .stories import StoryAssigner
        from .tone import ToneScorer

        self.matcher = matcher
        self.tone = ToneScorer() if tone else None
        self.stories = stories if stories is not None else StoryAssigner()

    @property
    def analysis(self) -> str:
        """What counts and tones depend on: the watchlist and whether tone is scored (counts
        made by an enricher with the same `analysis` are the ones this one would make)."""
        return f"{self.matcher.fingerprint}+{'tone' if self.tone is not None else 'no-tone'}"

    def article(
        self, article_id: int, published: datetime, title: str, text: str, feed: str = ""
    ) -> Enrichment:
        return self.articles([(article_id, published, title, text, feed)])[0]

    def articles(
        self,
        rows: Sequence[tuple[int, datetime, str, str, str]],
        prepared: Sequence[Prepared] | None = None,
    ) -> list[Enrichment]:
        """`article()` for each (id, published, title, text, feed) row, in order: the same
        results, cheaper by the batch (story signatures are computed together). `prepared`:
        `prepare()` of the rows' (title, text), done already (by the parse worker)."""
        if prepared is None:
            prepared = prepare([(title, text) for _, _, title, text, _ in rows])
        stories = self.stories.assign_many(rows, [p.signature for p in prepared])
        analysis = self.analysis
        out = []
        for (_, _, title, text, _), story, p in zip(rows, stories, prepared, strict=True):
            if p.counts is not None and p.tones is not None and p.analysis == analysis:
                counts, tones = p.counts, p.tones
            else:  # not counted, or with another watchlist or tone setting
                counts, tones = self.counts_and_tones(title, text)
            out.append(Enrichment(counts, tones, story, p.names))
        return out

    def counts_and_tones(self, title: str, text: str) -> tuple[dict[str, int], dict[str, float]]:
        """The mentions per entity and, when tone is on, their tone. With tone, the mentions
        found for it are counted instead of scanning the text a second time (the same counts
        as `Matcher.count`: title and text are scanned apart either way)."""
        if self.tone is None:
            return self.matcher.count(title, text), {}
        in_title, in_text = self.matcher.find(title), self.matcher.find(text)
        counts: dict[str, int] = {}
        for m in itertools.chain(in_title, in_text):
            counts[m.entity] = counts.get(m.entity, 0) + 1
        if not counts:
            return counts, {}
        return counts, self.tone.entity_tones(title, text, in_title, in_text)

    def batch(
        self, rows: Iterable[tuple[int, datetime, str, str, str, int | None]], size: int = BATCH
    ) -> Iterator[tuple[int, Enrichment]]:
        """`article()` for (id, published, title, text, feed, stored story) rows in
        publication order (the stored story is ignored: stories are assigned afresh)."""
        for chunk in _chunks(rows, size):
            work = [
                (aid, when, title or "", text or "", feed)
                for aid, when, title, text, feed, _ in chunk
            ]
            yield from zip([row[0] for row in work], self.articles(work), strict=True)

    def recount(
        self, rows: Iterable[tuple[int, datetime, str, str, str, int | None]]
    ) -> Iterator[tuple[int, Enrichment]]:
        """Counts and tone only, keeping the stored story (the watchlist changed, nothing
        else); no names (they are kept too)."""
        for article_id, _, title, text, _, story in rows:
            counts, tones = self.counts_and_tones(title or "", text or "")
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
        for chunk in _chunks(rows, BATCH):
            self.stories.add_many(
                [
                    (
                        aid,
                        when,
                        title or "",
                        text or "",
                        aid if story is None else story,
                        feed or "",
                    )
                    for aid, when, title, text, story, feed in chunk
                ]
            )
            n += len(chunk)
        return n


def _chunks(rows: Iterable[_T], size: int) -> Iterator[list[_T]]:
    it = iter(rows)
    while chunk := list(itertools.islice(it, size)):
        yield chunk
