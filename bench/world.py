"""The benchmarks' inputs: demo worlds, large watchlists, and feeds.yaml files for them.

The demo world (monitor/demo/world.py) watches fifteen entities. The benchmarks need about a
thousand, so `synthetic_entities` invents more: pseudo-names made of syllables (1-3 words,
some with a one-word alias), checked against the world's filler vocabulary and against each
other so that no name matches by accident. `Injector` then writes those names into article
text with a skewed (Zipf) popularity, the way a few names dominate real coverage while most
are rarely mentioned.
"""

from __future__ import annotations

import bisect
import json
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from monitor.demo.world import filler_clashes
from monitor.models import Entity
from monitor.text import fold

# Worlds end at today's midnight (UTC), so that the dashboard's relative ranges ("last 90 days")
# land on data. A cached store keeps the dates it was built with (see bench-store.json).
NOW = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

_ONSETS = "b c d f g h j k l m n p r s t v z br dr gr kr pl st tr".split()  # noqa: SIM905
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ei"]
_CODAS = ["", "", "", "n", "r", "s", "l", "th", "nd"]
_KINDS = ("person", "person", "person", "organization", "place", "topic")


def _word(rng: random.Random) -> str:
    syllables = rng.choice((2, 2, 3, 3, 4))
    return "".join(
        rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)
    ) + rng.choice(_CODAS)


def synthetic_entities(
    n_aliases: int, *, seed: int, existing: Sequence[Entity] = (), min_entities: int = 0
) -> list[Entity]:
    """Invented entities whose names and aliases, with those of `existing`, number `n_aliases`
    (at least `min_entities` entities are added; then aliases are added until the count)."""
    rng = random.Random(seed)
    taken = {fold(n) for e in existing for n in (*e.names, *e.exclude)}
    words_taken = {w for n in taken for w in n.split()}
    total = sum(len(e.names) for e in existing)
    out: list[Entity] = []

    def fresh_word() -> str:
        while True:
            w = _word(rng)
            if w not in words_taken and len(w) >= 4:
                words_taken.add(w)
                return w

    while total < n_aliases or len(out) < min_entities:
        kind = rng.choice(_KINDS)
        words = [fresh_word().capitalize() for _ in range(rng.choice((1, 2, 2, 2, 3)))]
        name = " ".join(words)
        aliases: tuple[str, ...] = ()
        if len(words) > 1 and (not n_aliases or total + 1 < n_aliases) and rng.random() < 0.6:
            aliases = (words[-1],)
        if fold(name) in taken:
            continue
        out.append(Entity(name=name, kind=kind, aliases=aliases))
        taken.update(fold(n) for n in (name, *aliases))
        total += 1 + len(aliases)
    problems = filler_clashes(list(existing) + out)
    if problems:  # a syllable word that is also a filler word: leave those entities out
        bad = {p.split("'")[1] for p in problems if p.startswith("filler word")}
        out = [e for e in out if not bad & {w.lower() for n in e.names for w in n.split()}]
    return out


class Injector:
    """Adds sentences naming synthetic entities to article text, with Zipf popularity.

    `extra(rng)` returns text naming 0..k entities (Poisson-like with mean `mean`), most of them
    among the first few entities of the list.
    """

    TEMPLATES = (
        "{} also commented on the matter.",
        "According to {}, the figures were revised.",
        "Observers compared it with the position of {}.",
        "Local reports also mentioned {}.",
        "{} was not available for comment.",
    )

    def __init__(self, entities: Sequence[Entity], *, mean: float, zipf: float = 1.1):
        self.entities = list(entities)
        self.mean = mean
        weights = [1.0 / (rank + 1) ** zipf for rank in range(len(self.entities))]
        self.cum: list[float] = []
        acc = 0.0
        for w in weights:
            acc += w
            self.cum.append(acc)

    def pick(self, rng: random.Random) -> Entity:
        i = bisect.bisect_left(self.cum, rng.random() * self.cum[-1])
        return self.entities[min(i, len(self.entities) - 1)]

    def extra(self, rng: random.Random) -> str:
        # number of entities: geometric-ish around `mean`
        k = 0
        p = self.mean / (1 + self.mean)
        while rng.random() < p and k < 8:
            k += 1
        if not k:
            return ""
        parts = []
        for _ in range(k):
            e = self.pick(rng)
            name = rng.choice(e.names)
            parts.append(rng.choice(self.TEMPLATES).format(name))
        return " ".join(parts)


# --------------------------------------------------------------------------------------------
# feeds.yaml


def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def watch_yaml(entities: Iterable[Entity]) -> list[str]:
    lines = ["watch:"]
    for e in entities:
        lines.append(f"  - name: {_q(e.name)}")
        lines.append(f"    kind: {e.kind}")
        if e.aliases:
            lines.append(f"    aliases: [{', '.join(_q(a) for a in e.aliases)}]")
        if e.exclude:
            lines.append(f"    exclude: [{', '.join(_q(x) for x in e.exclude)}]")
        if e.case_sensitive is not None:
            lines.append(f"    case_sensitive: {'true' if e.case_sensitive else 'false'}")
    return lines


def write_feeds_yaml(
    path: Path,
    *,
    store: Path,
    feeds: Sequence[tuple[str, str, Sequence[str]]],  # (name, url, tags)
    entities: Sequence[Entity],
    per_host: int = 16,
    concurrency: int = 16,
    full_text: bool = False,
) -> Path:
    lines = [
        "# Written by the benchmark suite (bench/); regenerated on every run.",
        f"store: {_q(str(store))}",
        "poll:",
        "  every: 15m",
        "  timeout: 60s",
        f"  per_host: {per_host}",
        f"  concurrency: {concurrency}",
        # feeds alone unless asked: the served feeds link to invented domains (bench_pages
        # measures reading pages against a server that has them)
        f"  full_text: {'true' if full_text else 'false'}",
    ]
    if feeds:
        lines.append("feeds:")
        for name, url, tags in feeds:
            lines.append(f"  - name: {_q(name)}")
            lines.append(f"    url: {_q(url)}")
            if tags:
                lines.append(f"    tags: [{', '.join(_q(t) for t in tags)}]")
    else:
        lines.append("feeds: []")
    lines += watch_yaml(entities)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
