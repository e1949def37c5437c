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
# Boilerplate sentences contain one of these (lower case); looking for the words first is
# much faster than a regular expression with them all.
_BOILERPLATE_WORDS = (
    "copyright",
    "©",
    "all rights reserved",
    "reporting by",
    "editing by",
    "writing by",
    "contributed to this report",
    "appeared first on",
    "sign up",
    "read more",
    "continue reading",
    "click here",
    "subscribe",
    "originally published",
    "originally appeared",
    "follow us",
    "follow our",
    "has been updated",
    "has been corrected",
    "was updated",
    "was corrected",
)
_SENTENCE_END = re.compile(r"(?<=[.!?…\]»])\s+")
_ELLIPSIS = re.compile(r"\s*(?:\[\s*(?:…|\.\.\.)\s*\]|…|\.\.\.)\s*$")
_WORD = re.compile(r"\w+")
_TITLE_SUFFIX = re.compile(r"\s+(?:[|•]|[-—–]{1,2})\s+[^|•—–-]{2,40}$")
_TAIL_CHARS = 400  # boilerplate is looked for in this many characters at the end
_TEXT_CHARS = 1500  # comfortably more than COMPARE_WORDS words
_TITLE_CANDIDATES = 8  # articles with the same headline looked at (the latest)

_TOKEN_HASHES: dict[str, int] = {}
_MASK = np.uint64(0xFFFFFFFF)
_MULTIPLIER = np.uint64(0x100000001B3)
_PERMUTATIONS = MinHash(num_perm=BANDS * ROWS, seed=1).permutations  # shared by all


def _identity(x: int) -> int:
    return x


# --------------------------------------------------------------------------------------------
# Text -> shingles


def body_words(text: str) -> list[str]:
    """The cleaned, folded words of an article's text (at most `COMPARE_WORDS`)."""
    if text.startswith("By "):
        text = _BYLINE.sub("", text, count=1)
    head = text[:100]
    if "(" in head or "—" in head or "-" in head or "–" in head:  # else no dateline: skip
        text = _DATELINE.sub("", text, count=1)
    cut = False
    if len(text) > _TEXT_CHARS:
        text, cut = text[:_TEXT_CHARS], True
    else:
        if _is_boilerplate(text[-_TAIL_CHARS:]):
            sentences = _SENTENCE_END.split(text)
            while sentences and _is_boilerplate(sentences[-1]):
                sentences.pop()
            text = " ".join(sentences)
        end = text[-6:].rstrip()
        if end.endswith(("…", "...", "]")):  # a cheap test first: the search is not
            marker = _ELLIPSIS.search(text, max(0, len(text) - 12))
            if marker:
                text, cut = text[: marker.start()], True
    words = _WORD.findall(fold(text).replace(".", ""))
    if cut and len(words) <= COMPARE_WORDS:
        words = words[:-1]  # the word at the cut may be a fragment
    return words[:COMPARE_WORDS]


def _is_boilerplate(s: str) -> bool:
    s = s.lower()
    return any(word in s for word in _BOILERPLATE_WORDS)


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
    cache = _TOKEN_HASHES
    h = np.array([cache.get(w) or _token_hash(w) for w in words], dtype=np.uint64)
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
    short: bool  # too few shingles to judge by the text: the headline decides


def signature(title: str, text: str) -> Signature:
    hashes = shingle_hashes(body_words(text))
    lsh = hashes[: max(LSH_WORDS - SHINGLE + 1, 0)]
    compare = _unique(hashes)
    return Signature(compare, lsh.tolist(), title_key(title), len(compare) < MIN_SHINGLES)


def _unique(a: np.ndarray) -> np.ndarray:
    """np.unique for small arrays, without its overhead (a third of the time here)."""
    a = np.sort(a)
    if len(a) > 1:
        a = a[np.concatenate(([True], a[1:] != a[:-1]))]
    return a


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
        self._titles: dict[str, list[int]] = {}  # headline -> articles
        self._short_titles: dict[str, list[int]] = {}  # headline -> short articles
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
        minhash = None if sig.short or not sig.lsh else self._hash(sig)
        story = self._find(sig, t, feed, minhash)
        story = article_id if story is None else story
        self._insert(article_id, story, t, sig, feed, minhash)
        return story

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
            sig = signature(title, text)
            minhash = None if sig.short or not sig.lsh else self._hash(sig)
            self._insert(article_id, story, _seconds(published), sig, feed, minhash)

    # ----------------------------------------------------------------------------------------
    def _hash(self, sig: Signature) -> MinHash:
        m = self._minhash
        m.clear()
        m.update_batch(sig.lsh)
        return m

    def _find(self, sig: Signature, t: float, feed: str, minhash: MinHash | None) -> int | None:
        if sig.short:  # any article with this headline (the latest ones, if many)
            keys = self._titles.get(sig.title, [])[-_TITLE_CANDIDATES:] if sig.title else []
        else:
            keys = self._lsh.query(minhash) if minhash is not None else []
            if sig.title and sig.title in self._titles:  # articles with this headline
                keys = [*keys, *self._titles[sig.title][-_TITLE_CANDIDATES:]]
        texts: list[_Entry] = []  # candidates judged on their text
        best: tuple[float, float, int] | None = None  # (score, -published, story)
        for key in keys:
            entry = self._entries.get(key)
            if entry is None or abs(entry.published - t) > self.window:
                continue
            if feed and entry.feed == feed and (sig.title is None or entry.sig.title != sig.title):
                continue
            if sig.short or entry.sig.short:
                if sig.title is not None and sig.title == entry.sig.title:
                    rank = (1.0, -entry.published, entry.story)
                    best = rank if best is None or rank > best else best
            else:
                texts.append(entry)
        if texts:
            # all candidates at once: one numpy pass instead of one per candidate (copies of a
            # widely carried story can be many)
            arrays = [e.sig.compare for e in texts]
            sizes = np.array([len(a) for a in arrays])
            values = np.concatenate(arrays)
            q = sig.compare  # sorted: membership by binary search, faster than np.isin here
            at = np.minimum(np.searchsorted(q, values), len(q) - 1)
            hits = q[at] == values
            shared = np.add.reduceat(hits, np.concatenate(([0], np.cumsum(sizes)[:-1])))
            scores = shared / np.minimum(sizes, len(q))
            for i in np.flatnonzero(scores >= THRESHOLD):
                e = texts[i]
                rank = (float(scores[i]), -e.published, e.story)
                best = rank if best is None or rank > best else best
        return None if best is None else best[2]

    def _insert(
        self,
        article_id: int,
        story: int,
        t: float,
        sig: Signature,
        feed: str,
        minhash: MinHash | None,
    ) -> None:
        in_lsh = minhash is not None
        if minhash is not None:
            self._lsh.insert(article_id, minhash, check_duplication=False)
        self._entries[article_id] = _Entry(story, t, sig, in_lsh, feed)
        if sig.title:
            self._titles.setdefault(sig.title, []).append(article_id)
            if sig.short:
                self._short_titles.setdefault(sig.title, []).append(article_id)
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
                for index in (self._titles, self._short_titles):
                    keys = index.get(entry.sig.title)
                    if keys is not None and key in keys:
                        keys.remove(key)
                        if not keys:
                            del index[entry.sig.title]


def _seconds(t: datetime) -> float:
    if t.tzinfo is None:
        return (t - _EPOCH_NAIVE).total_seconds()
    return t.timestamp()


_EPOCH_NAIVE = datetime(1970, 1, 1)
