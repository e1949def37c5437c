"""Stories: syndicated copies of one article, grouped across feeds. Pure.

The same wire story reaches a store many times: under other URLs, behind a dateline or an
agency tag ("WASHINGTON (AP) —", "(Reuters) -"), with a copyright line or a newsletter plea
appended, lightly edited, trimmed, under another headline, or as a feed summary of its first
sentence or two. `StoryAssigner` gives each new article a **story**: the story of an earlier
copy, or a new one whose id is the article's own id (the story's first article).

How two articles are judged copies (thresholds chosen on the labelled pairs in
tests/data/stories; see README "Stories"):

1. Clean the text: drop a leading byline / dateline / agency tag, boilerplate sentences at the
   end (copyright, "Reporting by", "The post ... appeared first on", "Sign up", ...) and a
   trailing ellipsis with the word it cut; fold case and accents like the matcher
   (`monitor.text.fold`); split into words.
2. Compare the first `COMPARE_WORDS` words as sets of `SHINGLE`-word shingles. Two articles are
   copies when the shingles they share are at least `THRESHOLD` of the smaller set
   (containment, so that a summary made of the first sentences is a copy of the full text).
3. Finding the earlier copies without comparing with every article: a MinHash of the shingles
   of the first `LSH_WORDS` words goes into a `datasketch.MinHashLSH` index (`BANDS` bands of
   `ROWS` hash values: a candidate shares one band). Candidates within `WINDOW` of publication
   time are then checked exactly (step 2); the best one wins.
4. One feed does not carry two copies of a story under two headlines: two articles of the
   same feed are copies only if their headlines are the same too. (A feed that gives every
   item the same description, "Listen to this week's episode...", would otherwise make one
   story of all its items; so would a weather desk's bulletins.)
5. Short texts (fewer than `MIN_SHINGLES` shingles: a title alone, a one-line teaser) say too
   little for step 2; for them, as Media Cloud does, the headline decides: the same
   normalized headline (site suffix such as " | Reuters" dropped, at least `TITLE_MIN_WORDS`
   words) within the window is the same story. Generic short headlines ("Today in History")
   never group.

The index holds the articles published within `WINDOW` of the newest one seen (at most
`max_articles`, about 5 KB each); older ones are evicted. `add()` puts an article whose story
is already known back into the index, which is how the poller rebuilds it from the store's
recent articles when it starts.

What it leaves to others: storing the story ids (store.py), choosing which articles to feed it
(poll.py), counting distinct stories (queries.py).
"""

from __future__ import annotations

import heapq
import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from datasketch import MinHash, MinHashLSH

from .text import fold

__all__ = ["Signature", "StoryAssigner", "copy_score", "signature"]

SHINGLE = 5  # words per shingle
COMPARE_WORDS = 100  # words of each text compared (enough for wire copy; cheap to keep)
LSH_WORDS = 60  # words whose shingles make the MinHash that finds candidates
THRESHOLD = 0.65  # shared shingles / shingles of the shorter text, to be copies
MIN_SHINGLES = 8  # fewer (a text under 12 words): the headline decides
TITLE_MIN_WORDS = 5  # a headline shorter than this never groups on its own
WINDOW = timedelta(days=3)  # copies are looked for this far apart in publication time
BANDS, ROWS = 16, 2  # LSH: 32 MinHash values; a candidate shares one band of 2
MAX_ARTICLES = 100_000  # the index never holds more (about 5 KB each)

_AGENCIES = (
    "AP|Reuters|AFP|EFE|dpa|DPA|UPI|CNN|Bloomberg|Xinhua|ANSA|Kyodo|Yonhap|TASS|IANS|PTI|"
    "AAP|CP|Europa Press|Prensa Latina|Notimex|AP Photo"
)
_BYLINE = re.compile(
    r"^\s*By [^,\n]{3,60}?,?\s+(?:The\s+)?(?:Associated Press|Reuters|AFP|Bloomberg|CNN)\b\s*"
    r"(?:Writer|Reporter|Correspondent)?\s*"
)
_DATELINE = re.compile(
    r"^\s*(?:[^()\n]{0,70}?\(\s*(?:" + _AGENCIES + r")\s*\)\s*(?:--|[-—–])?\s*"
    r"|[A-Z][A-Z.' ]{1,30}(?:,\s*[A-Z][\w.' ]{1,30})?,?\s+(?:--|[-—–])\s+)"
)
_BOILERPLATE = re.compile(
    r"copyright\b|©|all rights reserved|\breporting by\b|\bediting by\b|\bwriting by\b|"
    r"contributed to this report|appeared first on\b|\bsign up\b|\bread more\b|"
    r"continue reading|click here|\bsubscribe\b|originally (?:published|appeared)|"
    r"\bfollow (?:us|our)\b|this (?:story|article) (?:has been|was) (?:updated|corrected)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?…\]»])\s+")
_ELLIPSIS = re.compile(r"\s*(?:\[\s*(?:…|\.\.\.)\s*\]|…|\.\.\.)\s*$")
_WORD = re.compile(r"\w+")
_TITLE_SUFFIX = re.compile(r"\s+(?:[|•]|[-—–]{1,2})\s+[^|•—–-]{2,40}$")
_TAIL_CHARS = 600  # boilerplate is looked for in this many characters at the end
_TEXT_CHARS = 1500  # comfortably more than COMPARE_WORDS words

_TOKEN_HASHES: dict[str, int] = {}
_MASK = np.uint64(0xFFFFFFFF)
_MULTIPLIER = np.uint64(0x100000001B3)
_PERMUTATIONS = MinHash(num_perm=BANDS * ROWS, seed=1).permutations


def _identity(x: int) -> int:
    return x


# --------------------------------------------------------------------------------------------
# Text -> shingles


def body_words(text: str) -> list[str]:
    """The cleaned, folded words of an article's text (at most `COMPARE_WORDS`)."""
    text = _BYLINE.sub("", text, count=1)
    text = _DATELINE.sub("", text, count=1)
    cut = False
    if len(text) > _TEXT_CHARS:
        text, cut = text[:_TEXT_CHARS], True
    else:
        if _BOILERPLATE.search(text, max(0, len(text) - _TAIL_CHARS)):
            sentences = _SENTENCE_END.split(text)
            while sentences and _BOILERPLATE.search(sentences[-1]):
                sentences.pop()
            text = " ".join(sentences)
        marker = _ELLIPSIS.search(text)
        if marker:
            text, cut = text[: marker.start()], True
    words = _WORD.findall(fold(text).replace(".", ""))
    if cut and len(words) <= COMPARE_WORDS:
        words = words[:-1]  # the word at the cut may be a fragment
    return words[:COMPARE_WORDS]


def title_key(title: str) -> str | None:
    """A headline's normalized form, or None when it is too short to identify a story."""
    words = _WORD.findall(fold(_TITLE_SUFFIX.sub("", title)).replace(".", ""))
    return " ".join(words) if len(words) >= TITLE_MIN_WORDS else None


def _token_hash(token: str) -> int:
    h = _TOKEN_HASHES.get(token)
    if h is None:
        if len(_TOKEN_HASHES) > 500_000:  # a bounded cache of the vocabulary
            _TOKEN_HASHES.clear()
        h = _TOKEN_HASHES[token] = zlib.crc32(token.encode("utf-8", "surrogatepass"))
    return h


def shingle_hashes(words: list[str]) -> np.ndarray:
    """32-bit hashes of the `SHINGLE`-word shingles of `words`, in text order (stable)."""
    n = len(words) - SHINGLE + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint32)
    h = np.fromiter((_token_hash(w) for w in words), dtype=np.uint64, count=len(words))
    acc = np.zeros(n, dtype=np.uint64)
    for j in range(SHINGLE):
        acc = acc * _MULTIPLIER + h[j : j + n]  # wraps modulo 2**64
    return ((acc >> np.uint64(32)) ^ (acc & _MASK)).astype(np.uint32)


@dataclass(frozen=True)
class Signature:
    """What the index keeps of an article's text."""

    compare: np.ndarray  # sorted unique shingle hashes of the first COMPARE_WORDS words
    lsh: list[int]  # shingle hashes of the first LSH_WORDS words (for the MinHash)
    title: str | None  # title_key

    @property
    def short(self) -> bool:
        return len(self.compare) < MIN_SHINGLES


def signature(title: str, text: str) -> Signature:
    hashes = shingle_hashes(body_words(text))
    lsh = hashes[: max(LSH_WORDS - SHINGLE + 1, 0)]
    return Signature(np.unique(hashes), lsh.tolist(), title_key(title))


def copy_score(a: Signature, b: Signature) -> float:
    """Shared shingles / shingles of the smaller text (0..1); 0 when either is short."""
    if a.short or b.short:
        return 0.0
    shared = np.intersect1d(a.compare, b.compare, assume_unique=True).size
    return shared / min(len(a.compare), len(b.compare))


def same_story(a: Signature, b: Signature) -> bool:
    """The rule, for two articles within the window of each other."""
    if a.short or b.short:
        return a.title is not None and a.title == b.title
    return copy_score(a, b) >= THRESHOLD


# --------------------------------------------------------------------------------------------
# The incremental index


@dataclass
class _Entry:
    story: int
    published: float  # POSIX seconds
    sig: Signature
    in_lsh: bool
    feed: str


class StoryAssigner:
    """Assigns story ids to articles as they come, given the recent ones it has seen.

    `assign(id, published, title, text, feed)` returns the story id of a new article;
    `add(...)` puts back an article whose story is known. Times may be naive (taken as UTC)
    or aware; `feed` (the URL of the feed that carried it) may be "" when unknown.
    """

    def __init__(self, window: timedelta = WINDOW, max_articles: int = MAX_ARTICLES) -> None:
        self.window = window.total_seconds()
        self.max_articles = max_articles
        self._lsh = MinHashLSH(num_perm=BANDS * ROWS, params=(BANDS, ROWS))
        self._minhash = MinHash(
            num_perm=BANDS * ROWS,
            seed=1,
            hashfunc=_identity,
            permutations=_PERMUTATIONS,
            scheme="affine32",
        )
        self._entries: dict[int, _Entry] = {}
        self._titles: dict[str, list[int]] = {}
        self._by_time: list[tuple[float, int]] = []  # heap, for eviction
        self._newest = float("-inf")

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, article_id: int) -> bool:
        return article_id in self._entries

    def assign(
        self, article_id: int, published: datetime, title: str, text: str, feed: str = ""
    ) -> int:
        """The story of a new article (its own id when it copies nothing in the window)."""
        known = self._entries.get(article_id)
        if known is not None:
            return known.story
        sig = signature(title, text)
        t = _seconds(published)
        story = self._find(sig, t, feed)
        self._insert(article_id, story if story is not None else article_id, t, sig, feed)
        return story if story is not None else article_id

    def add(
        self,
        article_id: int,
        published: datetime,
        title: str,
        text: str,
        story: int,
        feed: str = "",
    ) -> None:
        """Index an article whose story is already known (rebuilding from the store)."""
        if article_id not in self._entries:
            self._insert(article_id, story, _seconds(published), signature(title, text), feed)

    # ----------------------------------------------------------------------------------------
    def _hash(self, sig: Signature) -> MinHash:
        m = self._minhash
        m.clear()
        m.update_batch(sig.lsh)
        return m

    def _find(self, sig: Signature, t: float, feed: str) -> int | None:
        best: tuple[float, float, int] | None = None  # (score, -published, story)
        if sig.short:
            candidates = self._titles.get(sig.title, ()) if sig.title else ()
        else:
            candidates = self._lsh.query(self._hash(sig))
            if sig.title and sig.title in self._titles:  # short items with this headline
                candidates = [*candidates, *self._titles[sig.title]]
        for key in candidates:
            entry = self._entries.get(key)
            if entry is None or abs(entry.published - t) > self.window:
                continue
            if feed and entry.feed == feed and (sig.title is None or entry.sig.title != sig.title):
                continue
            if not same_story(sig, entry.sig):
                continue
            score = copy_score(sig, entry.sig) if not sig.short else 1.0
            rank = (score, -entry.published, entry.story)
            if best is None or rank > best:
                best = rank
        return None if best is None else best[2]

    def _insert(self, article_id: int, story: int, t: float, sig: Signature, feed: str) -> None:
        in_lsh = not sig.short and bool(sig.lsh)
        if in_lsh:
            self._lsh.insert(article_id, self._hash(sig), check_duplication=False)
        self._entries[article_id] = _Entry(story, t, sig, in_lsh, feed)
        if sig.title:
            self._titles.setdefault(sig.title, []).append(article_id)
        heapq.heappush(self._by_time, (t, article_id))
        self._newest = max(self._newest, t)
        self._evict()

    def _evict(self) -> None:
        cutoff = self._newest - self.window
        heap = self._by_time
        while heap and (heap[0][0] < cutoff or len(self._entries) > self.max_articles):
            _, key = heapq.heappop(heap)
            entry = self._entries.pop(key, None)
            if entry is None:
                continue
            if entry.in_lsh:
                self._lsh.remove(key)
            if entry.sig.title:
                keys = self._titles.get(entry.sig.title)
                if keys is not None:
                    keys.remove(key)
                    if not keys:
                        del self._titles[entry.sig.title]


def _seconds(t: datetime) -> float:
    if t.tzinfo is None:
        return (t - _EPOCH_NAIVE).total_seconds()
    return t.timestamp()


_EPOCH_NAIVE = datetime(1970, 1, 1)
