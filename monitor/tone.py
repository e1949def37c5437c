"""Tone: how the sentences that mention an entity read, scored by a sentiment lexicon (VADER).

For each entity mentioned in an article, every sentence that holds one of its mentions (the
title counts as a sentence) is scored with VADER (`vaderSentiment`, whose lexicon ships inside
the package and works offline); the entity's tone in the article is the mean **compound**
score of those sentences, from -1 (most negative) to +1 (most positive).

What the score is: a word list's reading of the words around a name: "killed", "condemned",
"crisis" pull it down, "praised", "win", "safe" push it up, with VADER's rules for negation,
intensifiers and "but". What it is not: the outlet's stance, or what the article thinks of
the entity. "Rights groups condemned Bukele's prisons" and "Bukele condemned the attack" both
read as negative for Bukele. Compare tones between entities or over time, on many mentions,
rather than reading one article's score.

Sentences are split at `.`, `!`, `?` and `…` followed by a space and a capital letter, a digit
or an opening quote, except after common abbreviations ("Mr.", "U.S.", "Gen.", initials).
Scores are cached per sentence, so syndicated copies cost little.

What it leaves to others: finding the mentions (match.py gives their positions), storing the
scores (monitor/store/), averaging them over periods (queries.py).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from .match import Match
from .text import collapse_ws


def _words(s: str) -> list[str]:
    return s.split()


__all__ = ["ToneScorer", "sentence_spans"]

# ([.!?…][.!?…]* is [.!?…]+ written so that Python's re looks for the first character fast)
_BOUNDARY = re.compile(r"[.!?…][.!?…]*[\"'”’)\]]*\s+(?=[\"'“‘(\[¿¡]?[A-Z0-9À-ÖØ-Þ])")
_ABBREVIATIONS = frozenset(
    _words(
        """mr mrs ms dr st jr sr gen gov sen rep lt col sgt capt cpl adm prof rev hon pres supt
        dept no nos vs etc inc corp co ltd bros jan feb mar apr jun jul aug sep sept oct nov dec
        mon tue tues wed thu thurs fri sat sun a.m p.m u.s u.n u.k e.u d.c i.e e.g ft mt"""
    )
)
_CACHE_SIZE = 50_000


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text` (white space already collapsed)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.start()
        if text[end] == ".":
            word = text[text.rfind(" ", 0, end) + 1 : end].lower()
            if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue  # "Mr. Bukele", "U.S. officials", "Nayib B. Bukele"
        spans.append((start, end + 1))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


class ToneScorer:
    """Scores sentences with VADER; one per process (the lexicon loads in ~15 ms)."""

    def __init__(self) -> None:
        self._vader = SentimentIntensityAnalyzer()
        self._cache: dict[str, float] = {}

    def sentence(self, sentence: str) -> float:
        """VADER's compound score of one sentence (-1..1)."""
        score = self._cache.get(sentence)
        if score is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            score = self._cache[sentence] = float(self._vader.polarity_scores(sentence)["compound"])
        return score

    def entity_tones(
        self, title: str, text: str, title_matches: Iterable[Match], text_matches: Iterable[Match]
    ) -> dict[str, float]:
        """Entity -> mean compound score of the sentences holding its mentions.

        `title_matches` and `text_matches` are `Matcher.find(title)` and `Matcher.find(text)`:
        positions in the white-space-collapsed title and text.
        """
        sentences: dict[str, set[tuple[int, int]]] = {}  # entity -> sentences, as keys
        title_c = None
        for m in title_matches:
            title_c = title_c if title_c is not None else collapse_ws(title)
            sentences.setdefault(m.entity, set()).add((-1, 0))
        text_c = None
        spans: list[tuple[int, int]] = []
        starts: list[int] = []
        for m in text_matches:
            if text_c is None:
                text_c = collapse_ws(text)
                spans = sentence_spans(text_c)
                starts = [s for s, _ in spans]
            i = max(bisect.bisect_right(starts, m.start) - 1, 0)
            sentences.setdefault(m.entity, set()).add(spans[i])
        tones: dict[str, float] = {}
        for entity, keys in sentences.items():
            scores = [
                self.sentence(title_c or "" if key[0] < 0 else (text_c or "")[key[0] : key[1]])
                for key in keys
            ]
            tones[entity] = sum(scores) / len(scores)
        return tones
