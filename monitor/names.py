"""Names in article text that nobody thought to watch: capitalised multi-word names and acronyms.

`extract_names(title, text)` returns the candidate names of one article, each once, as
`(key, form)`: `key` folded the way the matcher folds (`monitor.text.fold`: lower case, no
accents) and used to count; `form` as written, for display. What counts as a name:

- two or more capitalised words in a row, possibly joined by `of`, `de`, `del`, `la`, `for`,
  `van`, `von`... ("Terrorism Confinement Center", "José Raúl Mulino", "Department of Homeland
  Security"); a possessive or a hyphenated suffix ends the name ("Nayib Bukele's" and
  "Bukele-led" give "Nayib Bukele" and nothing; a title before a full name is dropped:
  "President Nayib Bukele" is "Nayib Bukele");
- acronyms: a word in capitals of 2 to 7 characters with at least two letters (`ICE`, `CECOT`,
  `MS-13`), unless it stands beside other words in capitals (a dateline such as
  "SAN SALVADOR", a shouted headline);
- not: common words that start a sentence ("The", "After", "But"...), days and months (they
  are dropped from the ends of a name and split it in two), one-word leftovers, names of more
  than six words, generic acronyms (`US`, `CEO`, `TV`, agency tags such as `AP`); names in a
  headline written in Title Case (where every word is capitalised, capitals say nothing) are
  skipped, its acronyms kept.

Which names the watchlist covers is decided when names are ranked (queries.py), so that
editing the watchlist needs no recount.

What it leaves to others: storing the names (monitor/store/), ranking them (queries.py).
"""

from __future__ import annotations

import re

from .text import fold


def _words(s: str) -> list[str]:
    return s.split()


__all__ = ["extract_names", "name_key"]

MAX_WORDS = 6

_UPPER = "A-ZÀ-ÖØ-Þ"
# a capitalised word or an initial (words in capitals split a run later: simple patterns are
# several times faster with Python's re)
_CAP = rf"[{_UPPER}](?:[\w'’-]+|\.)"
_CONNECTORS = (
    r"of the|of|for the|for|de la|de los|de las|de|del|da|das|do|dos|du|la|le|van|von|der|den|"
    r"al|bin|y"
)
# `(?<!\w.)` after the first capital is `\b` before it: written this way the pattern starts
# with a character class, which Python's re looks for quickly (the scans take half the time)
_FIRST = rf"[{_UPPER}](?<!\w.)"
_RUN = re.compile(rf"{_FIRST}(?:[\w'’-]+|\.)(?:\s+(?:(?:{_CONNECTORS})\s+)?{_CAP})+")
_ACRONYM = re.compile(rf"{_FIRST}[{_UPPER}0-9&-]{{1,6}}\b")
_QUOTES = ("'", "’")
_POSSESSIVES = ("'s", "’s")
_HONORIFICS = frozenset(
    _words(
        """president vice prime minister secretary gov governor sen senator rep representative
        judge justice mayor gen general pope king queen prince princess sheriff chancellor
        ambassador director commissioner chief mr mrs ms dr sir lord lady"""
    )
)

_STOP_START = frozenset(
    _words(
        """a about according after again against all also although among an and another any are
        as at back because before being below between both but by can could despite did do does
        down during each earlier either even every few first for from further had has have he her
        here hers his how however i if in including inside instead into is it its just last later
        like many meanwhile more most much my neither new next no nor not now of off on once one
        only or other others our out outside over per perhaps since so some such than that the
        their them then there these they this those though through thus to today tomorrow too
        two under unlike until up upon us was we were what whatever when where whether which while
        who whom whose why will with within without would yesterday yet you your read watch live
        breaking update updated exclusive opinion analysis editorial photos video explainer
        podcast review letters mr mrs ms dr"""
    )
)
_CALENDAR = frozenset(
    _words(
        """monday tuesday wednesday thursday friday saturday sunday january february march april
        may june july august september october november december jan feb mar apr jun jul aug sep
        sept oct nov dec mon tue tues wed thu thur thurs fri sat sun"""
    )
)
_STOP_ACRONYMS = frozenset(
    _words(
        """US USA UK EU UN AP AFP EFE UPI DPA TV CEO CFO COO GDP AM PM OK ID II III IV VI VII VIII
        IX XI XII UTC GMT EST EDT PST PDT CST CDT ET PT USD EUR FAQ PDF HTML URL RSS NEWS LIVE
        BREAKING UPDATE WATCH VIDEO PHOTOS EXCLUSIVE OPINION ANALYSIS MORE READ Q&A"""
    )
)


def name_key(form: str) -> str:
    """The folded form of a name, as names are counted and compared with the watchlist."""
    return " ".join(fold(form).replace(".", "").split())


def _title_case(title: str) -> bool:
    words = [w for w in title.split() if len(w) >= 4 and w[0].isalpha()]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.7 * len(words)


def _clean_words(words: list[str]) -> list[list[str]]:
    """Split a run of capitalised words into names: calendar words split it, stop words and
    connectors are trimmed from its ends, a possessive or hyphenated suffix ends it."""
    out: list[list[str]] = []
    cur: list[str] = []
    for word in words:
        low = word.lower()
        if low in _CALENDAR or _is_caps(word):
            out.append(cur)
            cur = []
            continue
        end = False
        if word.endswith(_QUOTES):  # a possessive: Bukele's, Bukele', Bukeles'
            word, end = word[:-1], True
        elif word.endswith(_POSSESSIVES):
            word, end = word[:-2], True
        if "-" in word:
            head, _, tail = word.partition("-")
            if tail[:1].islower():  # Bukele-led, ex-official
                word, end = head, True
        if not (len(word) == 2 and word[1] == "."):  # an initial keeps its period
            word = word.rstrip(".")
        if word:
            cur.append(word)
        if end:
            out.append(cur)
            cur = []
    out.append(cur)
    names = []
    for name in out:
        while name and (name[0].lower() in _STOP_START or not name[0][:1].isupper()):
            name = name[1:]
        while name and not name[-1][:1].isupper():
            name = name[:-1]
        while len(name) > 2 and name[0].lower().rstrip(".") in _HONORIFICS:
            name = name[1:]  # "President Nayib Bukele" is "Nayib Bukele"
        if len(name) >= 2:
            names.append(name)
    return names


def _multiword(text: str, found: dict[str, str]) -> None:
    for m in _RUN.finditer(text):
        words = m.group().split()
        for name in _clean_words(words):
            if len(name) > MAX_WORDS or sum(w[:1].isupper() for w in name) < 2:
                continue
            form = " ".join(name)
            found.setdefault(name_key(form), form)


def _acronyms(text: str, found: dict[str, str]) -> None:
    for m in _ACRONYM.finditer(text):
        word = m.group().rstrip("-")
        start, end = m.start(), m.end()
        glued = (start and text[start - 1] in "'’.-") or text[end : end + 1] in ("'", "’", "-", ".")
        full_stop = text[end : end + 1] == "." and text[end + 1 : end + 2] in ("", " ")
        if glued and not full_stop:
            continue  # part of a longer token (U.S.A, O'NEIL, CO-OP); a full stop is fine
        if word in _STOP_ACRONYMS or sum(c.isalpha() for c in word) < 2:
            continue
        # beside another word in capitals: a dateline or a shouted phrase, not an acronym
        before = text[max(0, m.start() - 12) : m.start()].split()
        after = text[m.end() : m.end() + 12].split()
        if (before and _is_caps(before[-1])) or (after and _is_caps(after[0])):
            continue
        found.setdefault(name_key(word), word)


def _is_caps(word: str) -> bool:
    if word.isascii() and not word.isupper():  # most words: a lower-case letter, or none
        return False
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def extract_names(title: str, text: str) -> list[tuple[str, str]]:
    """The candidate names of an article, each once: `(key, form)` in order of appearance."""
    found: dict[str, str] = {}
    if title:
        if not _title_case(title):
            _multiword(title, found)
        _acronyms(title, found)
    if text:
        _multiword(text, found)
        _acronyms(text, found)
    return list(found.items())
