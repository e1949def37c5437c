"""Stories, tone and names: quality on the labelled pairs, and speed on one core.

    python -m bench.bench_analyses [--articles 10000]

- stories: precision and recall of `StoryAssigner` on tests/data/stories (a fresh index per
  pair: the first article, then the second; a pair is called copies when both get one story),
  overall and by the length of the shorter text;
- speeds (process CPU time, best of 3 passes): story assignment, name extraction, tone (VADER
  on the sentences holding mentions; with its sentence cache, and without) and the whole
  `Enricher.article` with and without tone, on `--articles` articles of the ingest
  benchmark's world (demo-world articles with the synthetic watchlist's names), in
  publication order; and rebuilding the story index
  (`StoryAssigner.add`), as a poller does when it starts;
- the story index's memory per article (tracemalloc).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import ROOT, emit

PAIRS = ROOT / "tests" / "data" / "stories"


def labelled_pairs() -> list[dict[str, Any]]:
    pairs = [json.loads(line) for line in (PAIRS / "pairs.jsonl").read_text().splitlines()]
    return pairs + json.loads((PAIRS / "hand_pairs.json").read_text())


def story_quality() -> dict[str, Any]:
    from monitor.stories import StoryAssigner, body_words

    def when(side: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(side["published"].replace("Z", "+00:00"))

    buckets: dict[str, list[int]] = {}  # bucket -> [tp, fp, fn, tn]
    for p in labelled_pairs():
        s = StoryAssigner()
        a, b = p["a"], p["b"]
        same = s.assign(1, when(a), a["title"], a["text"], a["feed"]) == s.assign(
            2, when(b), b["title"], b["text"], b["feed"]
        )
        words = min(len(body_words(a["text"])), len(body_words(b["text"])))
        bucket = "under 12 words" if words < 12 else "12-29 words" if words < 30 else "30+ words"
        for key in (bucket, "all"):
            c = buckets.setdefault(key, [0, 0, 0, 0])
            c[0 if same and p["label"] else 1 if same else 2 if p["label"] else 3] += 1
    out = {}
    for key, (tp, fp, fn, tn) in buckets.items():
        out[key] = {
            "pairs": tp + fp + fn + tn,
            "copies": tp + fn,
            "precision": tp / (tp + fp) if tp + fp else 1.0,
            "recall": tp / (tp + fn) if tp + fn else 1.0,
        }
    return out


def world_articles(n: int) -> list[tuple[int, datetime, str, str, str]]:
    """Articles as the ingest benchmark serves them (its world and its injected names)."""
    import random

    from bench.__main__ import ingest_watchlist
    from bench.world import NOW, Injector
    from monitor.demo.world import World

    watch = ingest_watchlist(1000)
    base = {
        e.name
        for e in World.generate(seed=1, days=1, outlets=1, articles_per_day=0, now=NOW).entities
    }
    injector = Injector([e for e in watch if e.name not in base], mean=1.5)
    rng = random.Random(3)
    days = max(3, n // 700)
    world = World.generate(seed=11, days=days, outlets=200, articles_per_day=n // days + 1, now=NOW)
    arts = sorted(world.delivered(NOW), key=lambda a: a.published or NOW)[:n]
    return [
        (i, a.published or NOW, a.title, f"{a.text} {injector.extra(rng)}".strip(), a.outlet)
        for i, a in enumerate(arts)
    ]


def best_rate(n: int, run: Callable[[], object], passes: int = 3) -> float:
    best = float("inf")
    for _ in range(passes):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return n / best


def speeds(n: int) -> dict[str, Any]:
    from bench.__main__ import ingest_watchlist
    from monitor.enrich import Enricher
    from monitor.match import Matcher
    from monitor.names import extract_names
    from monitor.stories import StoryAssigner
    from monitor.tone import ToneScorer

    arts = world_articles(n)
    matcher = Matcher(ingest_watchlist(1000))
    found = [(matcher.find(t), matcher.find(x)) for _, _, t, x, _ in arts]
    with_mentions = [i for i, (a, b) in enumerate(found) if a or b]
    scorer = ToneScorer()

    def tone() -> None:
        scorer._cache.clear()  # measure scoring, not the cache
        for i in with_mentions:
            _, _, title, text, _ = arts[i]
            scorer.entity_tones(title, text, *found[i])

    def tone_uncached() -> None:
        for i in with_mentions:
            scorer._cache.clear()
            _, _, title, text, _ = arts[i]
            scorer.entity_tones(title, text, *found[i])

    out: dict[str, Any] = {
        "articles": len(arts),
        "mean_chars": round(sum(len(t) + len(x) for _, _, t, x, _ in arts) / len(arts)),
        "with_mentions": len(with_mentions),
        "count_per_s": best_rate(
            len(arts), lambda: [matcher.count(t, x) for _, _, t, x, _ in arts]
        ),
        "stories_per_s": best_rate(len(arts), lambda: _assign_all(arts)),
        "names_per_s": best_rate(
            len(arts), lambda: [extract_names(t, x) for _, _, t, x, _ in arts]
        ),
        "tone_per_s_of_articles_with_mentions": best_rate(len(with_mentions), tone),
        "tone_uncached_per_s": best_rate(len(with_mentions), tone_uncached, passes=1),
    }
    for on in (False, True):

        def enrich(on: bool = on) -> None:
            e = Enricher(matcher, tone=on)
            for a in arts:
                e.article(*a)

        out[f"enrich_per_s_tone_{'on' if on else 'off'}"] = best_rate(len(arts), enrich)
    stories = StoryAssigner()
    out["stories_formed"] = len({stories.assign(*a) for a in arts})
    # rebuilding the index (a poller starting): the last three days of articles, story known
    last = arts[-1][1]
    recent = [a for a in arts if a[1] >= last - timedelta(days=3)]
    out["seeded"] = len(recent)
    out["seed_per_s"] = best_rate(len(recent), lambda: _seed(recent), passes=2)
    tracemalloc.start()
    s = StoryAssigner()
    for a in recent:
        s.assign(*a)
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out["index_bytes_per_article"] = round(size / max(len(s), 1))
    return out


def _assign_all(arts: list[tuple[int, datetime, str, str, str]]) -> None:
    from monitor.stories import StoryAssigner

    s = StoryAssigner()
    for a in arts:
        s.assign(*a)


def _seed(recent: list[tuple[int, datetime, str, str, str]]) -> None:
    from monitor.stories import StoryAssigner

    s = StoryAssigner()
    for i, published, title, text, feed in recent:
        s.add(i, published, title, text, i, feed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    args = parser.parse_args()
    emit({"quality": story_quality(), **speeds(args.articles), "pairs_dir": str(Path(PAIRS))})


if __name__ == "__main__":
    main()
