"""Count mentions of watched entities in article text: the counting rules, in one place.

A mention is an occurrence of an entity's name or alias such that:

- it is made of whole words: the characters just before and after it are not word characters
  (letters of any script, digits, `_`), so `Bukele’s`, `Bukele-led`, `#Bukele`, `(Bukele)` count
  and `Bukele2024`, `bukeleño`, `@nayibbukele` do not;
- case and accents do not matter (`jose raul mulino` finds `José Raúl Mulino` and the reverse),
  and white space is collapsed in names and text alike, so a name may span a line break;
- a name written in capitals only with at least two letters (`ICE`, `CECOT`, `MS-13`) counts only
  where the text has it in capitals, unless the entity says `case_sensitive: false`;
  `case_sensitive: true` makes all of the entity's names match exactly (case and accents);
- where names overlap, the leftmost, then longest, match wins and counts once, across all
  entities (`Nayib Bukele` is one mention); when two entities share the winning name, it counts
  once for each of them;
- an occurrence inside one of the entity's `exclude` phrases (found by the same rules) does not
  count for that entity.

Matching runs one Aho-Corasick automaton (ahocorasick_rs, every overlapping occurrence) over the
folded text (see `monitor.text.fold`, which keeps positions), then checks word boundaries, case
rules and exclude phrases per hit, and resolves overlaps. A leftmost-longest search is not used:
a longer name that fails the boundary check would hide a shorter one that passes. The scan is
the largest cost (about 60% of `count` on 10,000 names, folding and the checks per hit the
rest; bench/bench_match.py reports both), so the automaton is the kind that scans fastest for
the watchlist's size: a DFA up to ~1,000 names, a contiguous NFA above, where the DFA outgrows
the CPU's cache.

Reading feeds, turning HTML into text and storing the counts are other modules' jobs; this one
only takes text and a watchlist and returns mentions.
"""

from __future__ import annotations

import functools
import hashlib
import json
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple

import ahocorasick_rs

from monitor.models import Entity
from monitor.text import collapse_ws, fold

__all__ = ["Match", "Matcher", "is_acronym", "watchlist_fingerprint"]

# Bump when the counting rules change, so that stored counts are known to be stale.
RULES_VERSION = 1

# Joins title and text in `count`: not white space, not a word character, and in no name, so a
# name can neither span it nor lean on it.
_SEPARATOR = "\x00"

_CAPITALS = object()  # condition: the text has the name in capitals

# Text is scanned as it comes, without collapsing its white space first, when that gives the
# same result: `fold` turns most kinds of space into " ", so only the sequences below (and a
# space at either end) mean that collapsing would change the text. They are added to the
# automaton as markers; a text in which one turns up is collapsed and scanned again.
# (Written out: computing them folds every kind of space, which builds the fold tables, ~20-50
# ms that a command folding no text, such as a poll where every feed is unchanged, never needs;
# tests/test_match.py computes them.)
_UNCOLLAPSED = (
    *("  ", "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f"),
    *("\x85", "\u1680", "\u2028", "\u2029", "\u3000"),
)

# Above this many names a DFA scans slower than a contiguous NFA (measured with the match bench:
# at 1,000 names the DFA is ~1.3x faster, at 2,000 ~1.2x slower, at 10,000 ~1.5x slower).
_DFA_MAX_NAMES = 1000


class Match(NamedTuple):
    """One counted mention: `start` and `end` in the white-space-collapsed text."""

    start: int
    end: int
    entity: str


def is_acronym(name: str) -> bool:
    """True for names written in capitals only with at least two letters (`ICE`, `MS-13`)."""
    if not name.isupper():  # a lower-case letter, or no cased letter at all: most names
        return False
    letters = [c for c in name if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _fold_nfc(text: str) -> tuple[str, str]:
    """`text` in NFC, and its fold."""
    folded = fold(text)
    return (text, folded) if folded.isascii() else _nfc_fold(text, folded)


def _nfc_fold(text: str, folded: str) -> tuple[str, str]:
    """`_fold_nfc` for a text whose fold (`folded`) is not ASCII."""
    # A fold within latin-1 has no combining marks left, so NFC would not change it; only other
    # texts need the (slower) check.
    try:
        folded.encode("latin-1")
    except UnicodeEncodeError:
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
            folded = fold(text)
    return text, folded


def _condition(entity: Entity, name: str) -> object | None:
    """What the text must look like for `name` to count: None (any case), capitals, or exact."""
    if entity.case_sensitive:
        return name
    if entity.case_sensitive is None and is_acronym(name):
        return _CAPITALS
    return None


def _meets(span: str, conds: tuple[object, ...]) -> bool:
    """Whether the text's `span` satisfies one of the name's case conditions."""
    if not span.isprintable():  # a non-breaking space, say, where the name has " "
        span = collapse_ws(span)
    return any(span.isupper() if c is _CAPITALS else span == c for c in conds)


def watchlist_fingerprint(entities: Sequence[Entity]) -> str:
    """`Matcher(entities).fingerprint`, without building the matcher."""
    content = sorted(
        [e.name, e.kind, list(e.aliases), list(e.exclude), e.case_sensitive] for e in entities
    )
    blob = json.dumps([RULES_VERSION, content], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


class Matcher:
    """Finds and counts the mentions of a watchlist's entities; build once, use for many texts."""

    def __init__(self, entities: Sequence[Entity]) -> None:
        self.entities: list[Entity] = list(entities)
        # folded name -> {(entity name, is exclude phrase): conditions, None meaning any case}
        rules: dict[str, dict[tuple[str, bool], list[object] | None]] = {}
        for entity in self.entities:
            phrases = [(n, False) for n in entity.names] + [(n, True) for n in entity.exclude]
            for raw, is_exclude in phrases:
                name, key = _fold_nfc(collapse_ws(raw))
                if _SEPARATOR in key or not any(_is_word_char(c) for c in key):
                    continue  # nothing to match as a word ("", "-", "...")
                per_key = rules.setdefault(key, {})
                slot = (entity.name, is_exclude)
                cond = _condition(entity, name)
                if cond is None or (slot in per_key and per_key[slot] is None):
                    per_key[slot] = None
                else:
                    per_key.setdefault(slot, []).append(cond)  # type: ignore[union-attr]
        # The automaton's patterns: first the white space markers, then the names. For each
        # name (same index, less the markers): the entity when it is the name's only rule and
        # matches in any case (most names: a fast path), else None and all the rules. Two flat
        # lists, read only for hits that pass the word check: after a scan of a large automaton
        # most objects touched are cache misses (a tuple per name cost ~0.5 us per hit).
        keys: list[str] = list(_UNCOLLAPSED) if rules else []
        self._markers = len(keys)
        self._fast: list[str | None] = [None] * self._markers
        self._specs: list[tuple[tuple[str, bool, tuple[object, ...] | None], ...]] = [
            ()
        ] * self._markers
        for key, per_key in rules.items():
            specs = tuple(
                (entity_name, is_exclude, None if conds is None else tuple(conds))
                for (entity_name, is_exclude), conds in per_key.items()
            )
            only = specs[0] if len(specs) == 1 else None
            keys.append(key)
            self._fast.append(only[0] if only and not only[1] and only[2] is None else None)
            self._specs.append(specs)
        self._automaton: ahocorasick_rs.AhoCorasick | None = None
        if rules:
            # Standard match kind with overlapping=True reports every occurrence of every key,
            # as the rules need (see the module docstring).
            Implementation = ahocorasick_rs.Implementation
            self._automaton = ahocorasick_rs.AhoCorasick(
                keys,
                matchkind=ahocorasick_rs.MatchKind.Standard,
                implementation=(
                    Implementation.DFA
                    if len(rules) <= _DFA_MAX_NAMES
                    else Implementation.ContiguousNFA
                ),
            )

    @functools.cached_property
    def fingerprint(self) -> str:
        """A short hash of everything in the watchlist that changes counts (order aside)."""
        return watchlist_fingerprint(self.entities)

    def find(self, text: str) -> list[Match]:
        """The counted mentions in `text`, in order; positions are in `collapse_ws(text)`.

        (Text that is not in Unicode NFC is normalized first; feed text nearly always is.)
        """
        found = self._scan(text)
        if found is None:
            found = self._scan(collapse_ws(text), collapsed=True)
        return [Match(start, -neg_end, entity) for start, neg_end, entity in found or ()]

    def count(self, title: str, text: str) -> dict[str, int]:
        """Entity name -> number of mentions in the title plus the text; entities with 0 absent."""
        found = self._scan(title + _SEPARATOR + text)
        if found is None:
            joined = collapse_ws(title) + _SEPARATOR + collapse_ws(text)
            found = self._scan(joined, collapsed=True)
        counts: dict[str, int] = {}
        for _, _, entity in found or ():
            counts[entity] = counts.get(entity, 0) + 1
        return counts

    def _scan(self, text: str, collapsed: bool = False) -> list[tuple[int, int, str]] | None:
        """The counted mentions in `text` as (start, -end, entity), in order.

        None when `text` is not `collapsed` and collapsing its white space would change it.
        (The negative end makes plain tuple order the leftmost-longest order.)
        """
        automaton = self._automaton
        if automaton is None:
            return []
        folded = fold(text)
        if not folded.isascii():
            text, folded = _nfc_fold(text, folded)
        if not collapsed and (folded[:1] == " " or folded[-1:] == " "):
            return None
        size = len(folded)
        markers = self._markers
        fast_entity = self._fast
        found: list[tuple[int, int, str]] = []
        excluded: list[tuple[int, int, str]] = []
        # Whether the names found so far are apart and in order, so that none hides another.
        apart = True
        last_end = 0
        for index, start, end in automaton.find_matches_as_indexes(folded, overlapping=True):
            if index < markers:  # white space that collapsing would change
                if collapsed:
                    continue
                return None
            # Word boundaries first: most hits that fail do so here.
            if start:
                c = folded[start - 1]
                if c != " " and (c.isalnum() or c == "_"):
                    continue
            if end < size:
                c = folded[end]
                if c != " " and (c.isalnum() or c == "_"):
                    continue
            fast = fast_entity[index]
            if fast is None:  # several rules or a case condition: check each
                for entity, is_exclude, conds in self._specs[index]:
                    if conds is None or _meets(text[start:end], conds):
                        (excluded if is_exclude else found).append((start, -end, entity))
                apart = False  # (rare) let the resolution below order them
                continue
            found.append((start, -end, fast))
            if start < last_end:
                apart = False
            last_end = end
        if excluded and found:
            found = [
                m
                for m in found
                if not any(x[2] == m[2] and x[0] <= m[0] and x[1] <= m[1] for x in excluded)
            ]
        if apart or len(found) < 2:
            return found  # (removing excluded ones leaves the rest apart and in order)
        return _leftmost_longest(found)


def _leftmost_longest(found: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Resolve overlaps among (start, -end, entity): the leftmost, then longest, wins."""
    found.sort()
    kept = [found[0]]
    first_start, first_neg_end, _ = found[0]
    for m in found[1:]:
        if m[0] >= -first_neg_end:
            kept.append(m)
            first_start, first_neg_end = m[0], m[1]
        elif m[0] == first_start and m[1] == first_neg_end:
            kept.append(m)  # the same name, for another entity
    return kept
