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
   of the first `LSH_WORDS` words (datasketch's affine32 MinHash, computed in numpy for a
   batch) goes into an LSH index (`BANDS` bands of `ROWS` hash values, as
   `datasketch.MinHashLSH` keeps them: a candidate shares one band). Candidates within
   `WINDOW` of publication time are then checked exactly (step 2); the best one wins.
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
`max_articles`, about 5 KB each); older ones are evicted, except while the poller holds the
index for a round (`hold`/`release`): a round may bring weeks of history from feed after feed,
and one feed's newest article must not evict the days another feed's copies still need.
`add()` puts an article whose story is already known back into the index, which is how the
poller rebuilds it from the store's recent articles when it starts.

What it leaves to others: storing the story ids (monitor/store/), choosing which articles to feed it
(poll.py), counting distinct stories (queries.py).
"""

from __future__ import annotations

import functools
import heapq
import itertools
import re
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import ahocorasick_rs
import numpy as np

from .text import fold

__all__ = ["Signature", "StoryAssigner", "copy_score", "signature", "signatures"]

SHINGLE = 5  # words per shingle
COMPARE_WORDS = 100  # words of each text compared (enough for wire copy; cheap to keep)
LSH_WORDS = 60  # words whose shingles make the MinHash that finds candidates
THRESHOLD = 0.65  # shared shingles / shingles of the shorter text, to be copies
MIN_SHINGLES = 8  # fewer (a text under 12 words): the headline decides
TITLE_MIN_WORDS = 5  # a headline shorter than this never groups on its own
WINDOW = timedelta(days=3)  # copies are looked for this far apart in publication time
BANDS, ROWS = 16, 2  # LSH: 32 MinHash values; a candidate shares one band of 2
BLOOM_BITS = 2048  # bits of an article's filter (see `_bloom`)
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

_BOILERPLATE = ahocorasick_rs.AhoCorasick(list(_BOILERPLATE_WORDS))
# latin-1 byte -> itself if the regular expression `\w` matches it, else a space
_WORD_BYTES = bytes(i if _WORD.match(chr(i)) else 32 for i in range(256))

_TOKEN_HASHES: dict[str, int] = {}
_MASK = np.uint64(0xFFFFFFFF)
_MULTIPLIER = np.uint64(0x100000001B3)


@functools.cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The permutations (a, b) of datasketch's MinHash(num_perm=BANDS * ROWS, seed=1,
    scheme="affine32"), drawn the way datasketch draws them (tests/test_stories.py checks they
    are its values). Not taken from datasketch itself: importing it imports scipy, ~0.5 s of
    a poller's first new article (a cold ingest of 10,000 articles spent a tenth of its time
    there)."""
    gen = np.random.RandomState(1)
    n = BANDS * ROWS
    a = gen.randint(0, 1 << 31, n, dtype=np.uint32) * np.uint32(2) + np.uint32(1)  # odd
    b = gen.randint(0, 1 << 32, n, dtype=np.uint32)
    return a, b


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
    words = _folded_words(text)
    if cut and len(words) <= COMPARE_WORDS:
        words = words[:-1]  # the word at the cut may be a fragment
    return words[:COMPARE_WORDS]


def _folded_words(text: str) -> list[str]:
    """`_WORD.findall(fold(text).replace(".", ""))`: the words of the folded text, periods
    dropped ("U.S." is "us"). Text that folds to latin-1 (most Western text) takes a byte
    table instead of the regular expression: the same words, twice as fast."""
    folded = fold(text)
    try:
        raw = folded.encode("latin-1")
    except UnicodeEncodeError:
        return _WORD.findall(folded.replace(".", ""))
    return raw.translate(_WORD_BYTES, b".").decode("latin-1").split()


def _is_boilerplate(s: str) -> bool:
    return bool(_BOILERPLATE.find_matches_as_indexes(s.lower()))


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


def _shingle_hashes(words: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of the `SHINGLE`-word shingles of each word list, in text order, all in
    one array, and where each list's run starts (a list of n >= SHINGLE words has n - SHINGLE
    + 1 shingles; a shorter one none). One numpy pass for a batch of articles."""
    flat = list(itertools.chain.from_iterable(words))
    known = list(map(_TOKEN_HASHES.get, flat))  # nearly every word is in the cache
    if None in known:
        known = [_token_hash(w) if h is None else h for w, h in zip(flat, known, strict=True)]
    tokens = np.array(known, dtype=np.uint64)
    counts = np.array([max(len(ws) - SHINGLE + 1, 0) for ws in words], dtype=np.int64)
    word_starts = np.cumsum([0] + [len(ws) for ws in words[:-1]], dtype=np.int64)
    n = len(tokens) - SHINGLE + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint32), np.zeros(len(words), dtype=np.int64)
    acc = np.zeros(n, dtype=np.uint64)
    for j in range(SHINGLE):
        acc = acc * _MULTIPLIER + tokens[j : j + n]  # wraps modulo 2**64
    hashes = ((acc >> np.uint64(32)) ^ (acc & _MASK)).astype(np.uint32)
    # keep the windows that lie within one article: each article's first `count` starts
    keep = np.repeat(word_starts, counts) + _ranges(counts)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    return hashes[keep], starts


def _ranges(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each c in `counts`, concatenated."""
    total = int(counts.sum())
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) - np.repeat(ends - counts, counts)


def shingle_hashes(words: list[str]) -> np.ndarray:
    """32-bit hashes of the `SHINGLE`-word shingles of `words`, in text order (stable)."""
    return _shingle_hashes([words])[0]


@dataclass(frozen=True, slots=True)
class Signature:
    """What the index keeps of an article's text."""

    compare: np.ndarray  # sorted unique shingle hashes of the first COMPARE_WORDS words
    bands: np.ndarray | None  # LSH band keys (BANDS uint64, each ROWS MinHash values); None: short
    title: str | None  # title_key
    short: bool  # too few shingles to judge by the text: the headline decides
    bloom: np.ndarray  # BLOOM_BITS bits: those that `compare`'s hashes pick (see `_bloom`)
    excess: int  # how many of `compare`'s hashes pick a bit that another one picked too


def signatures(items: Sequence[tuple[str, str]]) -> list[Signature]:
    """The signatures of (title, text) pairs, computed together (numpy work is per batch)."""
    words = [body_words(text) for _, text in items]
    hashes, starts = _shingle_hashes(words)
    counts = np.diff(np.append(starts, len(hashes)))
    # the sorted unique hashes of each article: one sort of (article, hash) keys for all
    owner = np.repeat(np.arange(len(items), dtype=np.uint64), counts)
    keys = np.sort((owner << np.uint64(32)) | hashes)
    if len(keys) > 1:
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    unique = (keys & _MASK).astype(np.uint32)
    bounds = np.searchsorted(keys, np.arange(len(items) + 1, dtype=np.uint64) << np.uint64(32))
    sizes = np.diff(bounds)
    short = sizes < MIN_SHINGLES
    bands = _band_keys(hashes, starts, counts, ~short)
    bloom = _bloom(unique, sizes)
    excess = (sizes - np.bitwise_count(bloom).sum(axis=1)).tolist()
    out = []
    row = 0
    for i, (title, _) in enumerate(items):
        b = None
        if not short[i]:
            b, row = bands[row], row + 1
        compare = unique[bounds[i] : bounds[i + 1]]
        out.append(Signature(compare, b, title_key(title), bool(short[i]), bloom[i], excess[i]))
    return out


def _bloom(unique: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """For each article (its hashes are `sizes[i]` consecutive values of `unique`), a row of
    `BLOOM_BITS` bits as uint64 words: bit `h % BLOOM_BITS` is set for each of its hashes h.
    Two articles share at most popcount(a & b) + min(excess of a, excess of b) hashes, which
    rules out most candidates without comparing their hashes (`StoryAssigner._scores`)."""
    owner = np.repeat(np.arange(len(sizes)), sizes)
    bits = np.zeros((len(sizes), BLOOM_BITS), dtype=bool)
    bits[owner, unique % BLOOM_BITS] = True
    return np.packbits(bits, axis=1, bitorder="little").view(np.uint64)


def signature(title: str, text: str) -> Signature:
    return signatures([(title, text)])[0]


def _band_keys(
    hashes: np.ndarray, starts: np.ndarray, counts: np.ndarray, which: np.ndarray
) -> np.ndarray:
    """The LSH band keys of the articles picked by `which` (a row of BANDS keys each): the
    MinHash of the shingles of an article's first `LSH_WORDS` words, each band's `ROWS`
    32-bit values read as one 64-bit key.

    The MinHash is datasketch's (`MinHash(num_perm=BANDS * ROWS, seed=1, scheme="affine32")`
    fed the shingle hashes: its permutations, its formula), computed for the whole batch in
    one numpy pass instead of one `update_batch` call per article, which cost four times as
    much (tests/test_stories.py checks the values against datasketch's).
    """
    n = np.minimum(counts[which], LSH_WORDS - SHINGLE + 1)
    if not len(n):
        return np.empty((0, BANDS), dtype=np.uint64)
    # an article with fewer shingles repeats its last one: the minimum is the same
    cols = np.minimum(np.arange(LSH_WORDS - SHINGLE + 1)[None, :], (n - 1)[:, None])
    values = _fmix32(hashes[starts[which][:, None] + cols])
    a, b = _permutations()
    with np.errstate(over="ignore"):  # uint32 arithmetic wraps: that is the scheme
        minhash = (values[:, :, None] * a + b).min(axis=1)
    return np.ascontiguousarray(minhash, dtype=np.uint32).view(np.uint64)


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch's affine32 scheme pre-mixes input hashes."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


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

_WIDTH = COMPARE_WORDS - SHINGLE + 1  # the most shingles an article compares
_COLUMNS = np.arange(_WIDTH)
_NONE = -1  # no headline / feed unknown
_FEW = 24  # candidates judged one by one in Python (`_judge_few`); more: in one numpy pass


class _Slot(NamedTuple):
    """An indexed article as Python values: what eviction needs, and what judging a few
    candidates needs (`_judge_few`; the arrays hold the same, for many at once)."""

    article: int
    title: str | None
    bands: np.ndarray | None  # its LSH band keys, to take it out of the band dicts
    time: float
    story: int
    feed: int
    title_code: int
    short: bool
    size: int
    excess: int
    bloom: int  # the bit filter as one integer


class StoryAssigner:
    """Assigns story ids to articles as they come, given the recent ones it has seen.

    `assign(id, published, title, text, feed)` returns the story id of a new article;
    `add(...)` puts back an article whose story is known; `assign_many` and `add_many` do the
    same for a batch, in order, with the same results (the batch only shares the numpy work).
    Times may be naive (taken as UTC) or aware; `feed` (the URL of the feed that carried it)
    may be "" when unknown.

    How it is kept: each indexed article has a slot, a row in a few arrays (its shingle hashes
    padded to one width, their number, its time, story, feed, headline), so that the
    candidates of a new article are judged in one numpy pass when they are many (text that
    shares common phrases with many others can have hundreds); a few (the usual case: numpy's
    cost per call is more than their work) are judged in Python from the slot's `_Slot`. The
    LSH index is a dict per band (band key -> the slot, or a list of slots when several share
    it): what datasketch's MinHashLSH keeps, without its per-call overhead. Slots freed by
    eviction are reused.
    """

    def __init__(self, window: timedelta = WINDOW, max_articles: int = MAX_ARTICLES) -> None:
        self.window = window.total_seconds()
        self.max_articles = max_articles
        self._bands: list[dict[int, int | list[int]]] = [{} for _ in range(BANDS)]
        self._ids: dict[int, int] = {}  # article id -> slot
        self._meta: list[_Slot | None] = []  # slot -> what eviction needs; None: free
        self._free: list[int] = []
        self._titles: dict[str, list[int]] = {}  # headline -> slots, oldest first
        self._title_codes: dict[str, int] = {}  # headline -> its number while indexed
        self._next_code = 0
        self._feed_codes: dict[str, int] = {"": _NONE}
        self._by_time: list[tuple[float, int]] = []  # heap of (time, article id), to evict
        self._newest = float("-inf")
        self._held = 0  # > 0: evict only beyond max_articles (see `hold`)
        # slot -> ...
        self._compare = np.zeros((0, _WIDTH), dtype=np.uint32)  # shingle hashes, sorted
        self._bloom = np.zeros((0, BLOOM_BITS // 64), dtype=np.uint64)  # see `_bloom`
        self._excess = np.zeros(0, dtype=np.int64)
        self._sizes = np.zeros(0, dtype=np.int64)  # how many of them
        self._times = np.zeros(0, dtype=np.float64)  # publication time, POSIX seconds
        self._stories = np.zeros(0, dtype=np.int64)
        self._feed = np.zeros(0, dtype=np.int64)  # the feed's code
        self._title = np.zeros(0, dtype=np.int64)  # the headline's code, or _NONE
        self._short = np.zeros(0, dtype=bool)  # too short to judge by the text

    @property
    def _capacity(self) -> int:
        return len(self._meta)

    def _grow(self) -> None:
        size = len(self._meta)
        capacity = max(256, 2 * size)
        for name in (
            "_compare",
            "_bloom",
            "_excess",
            "_sizes",
            "_times",
            "_stories",
            "_feed",
            "_title",
            "_short",
        ):
            old = getattr(self, name)
            new = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            new[:size] = old
            setattr(self, name, new)
        self._meta.extend([None] * (capacity - size))
        self._free.extend(range(capacity - 1, size - 1, -1))  # lowest slots first

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, article_id: int) -> bool:
        return article_id in self._ids

    def assign(
        self, article_id: int, published: datetime, title: str, text: str, feed: str = ""
    ) -> int:
        """The story of a new article (its own id when it copies nothing in the window)."""
        return self.assign_many([(article_id, published, title, text, feed)])[0]

    def assign_many(
        self,
        rows: Sequence[tuple[int, datetime, str, str, str]],
        known: Sequence[Signature] | None = None,
    ) -> list[int]:
        """`assign` for each (id, published, title, text, feed) row, in order. `known`: the
        rows' signatures, computed already (elsewhere: `signatures` of the same titles and
        texts)."""
        todo = [i for i, row in enumerate(rows) if row[0] not in self._ids]
        if known is not None:
            sigs = {i: known[i] for i in todo}
        else:
            sigs = dict(
                zip(todo, signatures([(rows[i][2], rows[i][3]) for i in todo]), strict=True)
            )
        out = []
        for i, (article_id, published, _, _, feed) in enumerate(rows):
            slot = self._ids.get(article_id)
            if slot is not None:  # seen before (or earlier in this batch)
                out.append(int(self._stories[slot]))
                continue
            sig, t = sigs[i], _seconds(published)
            story = self._find(sig, t, feed)
            story = article_id if story is None else story
            self._insert(article_id, story, t, sig, feed)
            out.append(story)
        return out

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
        self.add_many([(article_id, published, title, text, story, feed)])

    def add_many(self, rows: Sequence[tuple[int, datetime, str, str, int, str]]) -> None:
        """`add` for each (id, published, title, text, story, feed) row, in order."""
        todo = [row for row in rows if row[0] not in self._ids]
        for row, sig in zip(todo, signatures([(r[2], r[3]) for r in todo]), strict=True):
            article_id, published, _, _, story, feed = row
            if article_id not in self._ids:
                self._insert(article_id, story, _seconds(published), sig, feed)

    # ----------------------------------------------------------------------------------------
    def _candidates(self, bands: np.ndarray) -> set[int]:
        """The slots of the indexed articles that share a band with these band keys."""
        found: set[int] = set()
        for hit in map(dict.get, self._bands, bands.tolist()):
            if hit is not None:
                if type(hit) is int:
                    found.add(hit)
                else:
                    found.update(hit)  # type: ignore[arg-type]
        return found

    def _find(self, sig: Signature, t: float, feed: str) -> int | None:
        """The story of the best earlier copy of `sig` in the window, if any: the highest
        score (1.0 for a short text's headline), then the earliest, then the highest story."""
        by_title = self._titles.get(sig.title) if sig.title else None
        if sig.short:  # any article with this headline (the latest ones, if many)
            if not by_title:
                return None
            candidates: Collection[int] = by_title[-_TITLE_CANDIDATES:]
        else:
            assert sig.bands is not None
            found = self._candidates(sig.bands)
            if by_title:  # articles with this headline
                found.update(by_title[-_TITLE_CANDIDATES:])
            if not found:
                return None
            candidates = found
        title = self._title_codes[sig.title] if by_title else _NONE  # type: ignore[index]
        if len(candidates) <= _FEW:
            return self._judge_few(sig, t, feed, candidates, title)
        slots = np.fromiter(candidates, dtype=np.intp, count=len(candidates))
        times = self._times[slots]
        titles = self._title[slots]
        same_title = titles == title if title != _NONE else np.zeros(len(slots), dtype=bool)
        ok = np.abs(times - t) <= self.window
        if feed:  # one feed's two articles are copies only under the same headline
            ok &= (self._feed[slots] != self._feed_codes.get(feed, -2)) | same_title
        short = self._short[slots] | sig.short
        scores = same_title.astype(np.float64)  # a short pair: its headline decides
        text = ok & ~short
        if text.any():
            scores[text] = self._scores(sig, slots[text])
        passed = ok & np.where(short, same_title, scores >= THRESHOLD)
        if not passed.any():
            return None
        stories = self._stories[slots[passed]]
        best = np.lexsort((stories, -times[passed], scores[passed]))[-1]
        return int(stories[best])

    def _judge_few(
        self, sig: Signature, t: float, feed: str, slots: Collection[int], title: int
    ) -> int | None:
        """`_find` for a few candidates, one at a time in Python (numpy's cost per call is
        more than the work for a few): the same rules, the same choice."""
        feed_code = self._feed_codes.get(feed, -2) if feed else None
        best: tuple[float, float, int] | None = None
        bloom = int.from_bytes(sig.bloom.tobytes(), "little")
        for slot in slots:
            e = self._meta[slot]
            assert e is not None
            if abs(e.time - t) > self.window:
                continue
            same_title = title != _NONE and e.title_code == title
            if feed_code is not None and e.feed == feed_code and not same_title:
                continue
            if e.short or sig.short:
                if not same_title:
                    continue
                score = 1.0
            else:
                smaller = min(e.size, len(sig.compare))
                bound = ((e.bloom & bloom).bit_count() + min(e.excess, sig.excess)) / smaller
                if bound < THRESHOLD:
                    continue
                score = self._shared(sig, slot) / smaller
                if score < THRESHOLD:
                    continue
            key = (score, -e.time, e.story)
            if best is None or key > best:
                best = key
        return None if best is None else best[2]

    def _shared(self, sig: Signature, slot: int) -> int:
        """How many of `sig`'s shingle hashes the article at `slot` has."""
        q = sig.compare
        row = self._compare[slot, : self._sizes[slot]]
        return int((q[np.minimum(q.searchsorted(row), len(q) - 1)] == row).sum())

    def _scores(self, sig: Signature, slots: np.ndarray) -> np.ndarray:
        """The copy score of `sig` against each slot's article (shared hashes over the
        smaller number), or 0 where it is below `THRESHOLD`.

        The articles' bit filters bound the hashes shared (see `_bloom`): a slot whose bound
        is below the threshold is out without more work (nearly all are, unless they are
        copies), the others are compared exactly.
        """
        q = sig.compare
        smaller = np.minimum(self._sizes[slots], len(q))
        common = np.bitwise_count(self._bloom[slots] & sig.bloom).sum(axis=1, dtype=np.int64)
        bound = (common + np.minimum(self._excess[slots], sig.excess)) / smaller
        check = np.flatnonzero(bound >= THRESHOLD)
        scores = np.zeros(len(slots))
        if len(check):
            rows = self._compare[slots[check]]
            hits = q[np.minimum(q.searchsorted(rows), len(q) - 1)] == rows
            shared = (hits & (self._sizes[slots[check], None] > _COLUMNS)).sum(axis=1)
            scores[check] = shared / smaller[check]
            scores[scores < THRESHOLD] = 0.0
        return scores

    def _insert(self, article_id: int, story: int, t: float, sig: Signature, feed: str) -> None:
        if not self._free:
            self._grow()
        slot = self._free.pop()
        self._ids[article_id] = slot
        n = len(sig.compare)
        self._compare[slot, :n] = sig.compare
        self._bloom[slot] = sig.bloom
        self._excess[slot] = sig.excess
        self._sizes[slot] = n
        self._times[slot] = t
        self._stories[slot] = story
        self._short[slot] = sig.short
        code = self._feed_codes.get(feed)
        if code is None:
            code = self._feed_codes[feed] = len(self._feed_codes)
        self._feed[slot] = code
        code = _NONE
        if sig.title:
            slots = self._titles.get(sig.title)
            if slots is None:
                slots = self._titles[sig.title] = []
                self._title_codes[sig.title] = self._next_code
                self._next_code += 1
            slots.append(slot)
            code = self._title_codes[sig.title]
        self._title[slot] = code
        self._meta[slot] = _Slot(
            article_id,
            sig.title,
            sig.bands,
            t,
            story,
            int(self._feed[slot]),
            code,
            sig.short,
            n,
            sig.excess,
            int.from_bytes(sig.bloom.tobytes(), "little"),
        )
        if sig.bands is not None:
            for table, key in zip(self._bands, sig.bands.tolist(), strict=True):
                hit = table.get(key)
                if hit is None:
                    table[key] = slot
                elif type(hit) is int:
                    table[key] = [hit, slot]
                else:
                    hit.append(slot)  # type: ignore[union-attr]
        heapq.heappush(self._by_time, (t, article_id))
        self._newest = max(self._newest, t)
        self._evict()

    def hold(self) -> None:
        """Keep every article added from now until `release()` (still at most
        `max_articles`): a poll round adds feed after feed, each newest first and some with
        weeks of history, so evicting by the newest article seen would drop the older
        articles of one feed before another feed's copies of them arrive."""
        self._held += 1

    def release(self) -> None:
        """End a `hold`: evict what lies beyond the window of the newest article."""
        self._held = max(0, self._held - 1)
        self._evict()

    def _evict(self) -> None:
        cutoff = self._newest - self.window if not self._held else float("-inf")
        heap = self._by_time
        while heap and (heap[0][0] < cutoff or len(self._ids) > self.max_articles):
            _, article_id = heapq.heappop(heap)
            slot = self._ids.pop(article_id, None)
            if slot is None:
                continue
            e = self._meta[slot]
            assert e is not None
            if e.bands is not None:
                for table, band in zip(self._bands, e.bands.tolist(), strict=True):
                    hit = table[band]
                    if type(hit) is int:
                        del table[band]
                    else:
                        hit.remove(slot)  # type: ignore[union-attr]
                        if len(hit) == 1:  # type: ignore[arg-type]
                            table[band] = hit[0]  # type: ignore[index]
            if e.title:
                slots = self._titles[e.title]
                slots.remove(slot)
                if not slots:
                    del self._titles[e.title], self._title_codes[e.title]
            self._meta[slot] = None
            self._free.append(slot)


def _seconds(t: datetime) -> float:
    if t.tzinfo is None:
        return (t - _EPOCH_NAIVE).total_seconds()
    return t.timestamp()


_EPOCH_NAIVE = datetime(1970, 1, 1)
