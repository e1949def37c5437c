"""Benchmark `monitor.match.Matcher.count` on a large generated watchlist.

Generates pseudo-names (1-3 words of random syllables, several thousand entities with 1-4
names each, 10,000 names in all) and ~600-character articles of filler words with a few of
those names in them, then times `count(title, text)` on one core (process CPU time, so that
other work on the machine disturbs the figure less). Beside it, in the same passes, the bare
scan: the matcher's own automaton over the same folded text (`fold(title + separator + text)`,
folded beforehand), every overlapping occurrence, nothing else; that is the floor `count`
stands on. The same scan with the folding timed is reported too.

    python bench/bench_match.py [--aliases N] [--articles N] [--seed N] [--accents] [--json]

Importable: `run(aliases=10000, articles=20000, seed=1) -> dict` (medians of 3 runs).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from monitor import match
from monitor.match import Matcher
from monitor.models import Entity
from monitor.text import fold

_SYLLABLES = [c + v for c in "bcdfghjklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
# Consonants that no name uses, so that a folded filler word is never a name.
_ACCENTED_SYLLABLES = [c + v for c in "qwxyç" for v in ("á", "é", "í", "ó", "ú", "ñá")]
_FILLER_WORDS = (
    "the of and to in a is that for on with as was by at from it his an be has are were which "
    "this or have had their not but its after government said official new would president "
    "also been more who minister week people year police security country court law report "
    "el la de que y en los del las por un para con una su al lo como más pero sus le ya o "
    "este sí porque esta entre cuando muy sin sobre también me hasta hay donde quien desde"
)
_FILLER = _FILLER_WORDS.split()


def _word(rng: random.Random, syllables: list[str]) -> str:
    return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))


def make_watchlist(aliases: int, rng: random.Random) -> list[Entity]:
    """Entities with 1-4 unique pseudo-names each, `aliases` names in all."""
    names: set[str] = set()
    while len(names) < aliases:
        words = rng.choices([1, 2, 3], weights=[3, 5, 2])[0]
        names.add(" ".join(_word(rng, _SYLLABLES).capitalize() for _ in range(words)))
    pool = sorted(names)
    rng.shuffle(pool)
    entities = []
    while pool:
        take = pool[: rng.randint(1, 4)]
        pool = pool[len(take) :]
        entities.append(Entity(name=take[0], kind="person", aliases=tuple(take[1:])))
    return entities


def make_articles(
    n: int, entities: list[Entity], rng: random.Random, *, accents: bool = False
) -> list[tuple[str, str]]:
    """(title, text) pairs of ~600 characters in all, with 0-6 watchlist names in each."""
    names = [name for e in entities for name in e.names]
    filler = _FILLER + ([_word(rng, _ACCENTED_SYLLABLES) for _ in range(40)] if accents else [])
    articles = []
    for _ in range(n):
        title = " ".join(rng.choice(filler) for _ in range(8)).capitalize()
        words: list[str] = []
        # Filler up to ~560 characters with the title; the names bring it to ~600.
        while len(title) + sum(len(w) + 1 for w in words) < 560:
            words.append(rng.choice(filler))
        for _ in range(rng.randint(0, 6)):
            name = rng.choice(names)
            suffix = rng.choice(["", "", "", "’s", "'s", ",", ".", "-led", "2024"])
            words.insert(rng.randrange(len(words)), name + suffix)
        text = " ".join(words)
        articles.append((title, text))
    return articles


def run(aliases: int = 10000, articles: int = 20000, seed: int = 1, accents: bool = False) -> dict:
    """Time `Matcher.count` and the bare scan over generated articles; medians of 3 passes."""
    rng = random.Random(seed)
    entities = make_watchlist(aliases, rng)
    corpus = make_articles(articles, entities, rng, accents=accents)
    started = time.process_time()
    matcher = Matcher(entities)
    build = time.process_time() - started
    joined = [title + match._SEPARATOR + text for title, text in corpus]
    folded = [fold(text) for text in joined]
    automaton = matcher._automaton  # the very automaton `count` uses
    assert automaton is not None

    def count_all() -> int:
        return sum(sum(matcher.count(title, text).values()) for title, text in corpus)

    def scan_all() -> int:
        return sum(len(automaton.find_matches_as_indexes(t, overlapping=True)) for t in folded)

    def fold_scan_all() -> int:
        return sum(
            len(automaton.find_matches_as_indexes(fold(t), overlapping=True)) for t in joined
        )

    # The three alternate within each pass, so that a busy spell on the machine hits them alike.
    passes: dict[str, list[float]] = {"count": [], "scan": [], "fold_scan": []}
    totals: dict[str, int] = {}
    for _ in range(3):
        for name, work in (("count", count_all), ("scan", scan_all), ("fold_scan", fold_scan_all)):
            started = time.process_time()
            totals[name] = work()
            passes[name].append(len(corpus) / (time.process_time() - started))
    rate, scan, fold_scan = (round(statistics.median(passes[k])) for k in passes)
    return {
        "aliases": sum(len(e.names) for e in entities),
        "entities": len(entities),
        "articles": len(corpus),
        "mean_chars": round(sum(len(t) + len(x) for t, x in corpus) / len(corpus)),
        "mentions": totals["count"],
        "scan_hits": totals["scan"],
        "build_seconds": round(build, 3),
        "articles_per_s": rate,
        "scan_articles_per_s": scan,
        "fold_scan_articles_per_s": fold_scan,
        "scan_ratio": round(scan / rate, 2),  # how many times slower count is than the scan
        "fold_scan_ratio": round(fold_scan / rate, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aliases", type=int, default=10000)
    parser.add_argument("--articles", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accents", action="store_true", help="accented (Spanish-like) filler")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args()
    result = run(args.aliases, args.articles, args.seed, accents=args.accents)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>24}: {value:,}" if isinstance(value, int) else f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
