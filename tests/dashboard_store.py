"""A small, deterministic store for the dashboard's tests, written with `monitor.store.Writer`.

`build_store(folder, now)` writes `folder/feeds.yaml` and fills `folder/data` the way the poller
would (articles, sources, mentions counted by `Matcher`, fetches, feed state, watchlist), with:

- four feeds in two tags, four watched entities of three kinds, ~20 days of articles;
- one article carried by two feeds (counts once);
- one article in nine that mentions nothing watched;
- a day on which most polls failed (the timeline shades it as degraded);
- one hostile article whose title, text, author and link carry script payloads.

It returns the path of feeds.yaml. No network, no clock: `now` is an argument.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from monitor.match import Matcher
from monitor.models import Article, Entity, FeedState
from monitor.store import Store, article_key

FEEDS = [
    ("Daily Planet", "http://127.0.0.1:9/planet.xml", ("national",)),
    ("Gotham Gazette", "http://127.0.0.1:9/gazette.xml", ("national",)),
    ("Smallville Ledger", "http://127.0.0.1:9/ledger.xml", ("local",)),
    ("Hostile Wire", "http://127.0.0.1:9/hostile.xml", ("local",)),
]
WATCH = [
    Entity("Nayib Bukele", "person", ("Bukele",)),
    Entity("Lex Luthor", "person", ("Luthor",)),
    Entity("LexCorp", "organization"),
    Entity("Metropolis", "place"),
]
HOSTILE_TITLE = (
    '<script>alert(1)</script> Bukele <img src=x onerror="alert(2)"> javascript:alert(3)'
)
HOSTILE_URL = "javascript:alert(4)"
HOSTILE_AUTHOR = "<b onmouseover=alert(5)>Mallory</b>"
TEMPLATES = [
    "{a} met officials in {p} on {d}.",
    "Analysts say {a} and {b} disagree about the budget.",
    "A quiet day: weather and sports, nothing about the watchlist.",
    "{a} spoke again; {a} repeated the claim.",
    "Residents of {p} asked {b} for answers.",
]
NAMES = ["Nayib Bukele", "Bukele", "Lex Luthor", "Luthor", "LexCorp", "Metropolis"]

CONFIG = """\
store: data
feeds:
{feeds}
watch:
{watch}
"""


def feeds_yaml() -> str:
    feeds = "\n".join(
        f"  - name: {name}\n    url: {url}\n    tags: [{', '.join(tags)}]"
        for name, url, tags in FEEDS
    )
    watch = "\n".join(
        f"  - name: {e.name}\n    kind: {e.kind}"
        + (f"\n    aliases: [{', '.join(e.aliases)}]" if e.aliases else "")
        for e in WATCH
    )
    return CONFIG.format(feeds=feeds, watch=watch)


def build_store(folder: Path, now: datetime, days: int = 20, per_day: int = 12) -> Path:
    """Write feeds.yaml and a filled store under `folder`; return feeds.yaml's path."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "feeds.yaml"
    config.write_text(feeds_yaml())
    store = Store(folder / "data")
    matcher = Matcher(WATCH)
    writer = store.writer()
    rng = random.Random(42)
    now = now.replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(days=days)
    bad_day = (now - timedelta(days=5)).date()
    states = {url: FeedState(url=url, name=name, tags=list(tags)) for name, url, tags in FEEDS}
    n = 0
    for day in range(days + 1):
        for k in range(per_day):
            published = start + timedelta(days=day, hours=(k * 2 + rng.randrange(2)) % 24)
            if published > now:
                continue
            url = FEEDS[n % 3][1]
            a, b, p = rng.choice(NAMES), rng.choice(NAMES), "Metropolis"
            text = rng.choice(TEMPLATES).format(a=a, b=b, p=p, d=published.date())
            title = f"{a} in the news ({n})"
            if n % 9 == 4:  # mentions nothing watched: listed only under "all articles"
                title, text = f"Weather and sports ({n})", TEMPLATES[2]
            article = Article(
                id=article_key("test", str(n)),
                url=f"https://news.example/{n}",
                title=title,
                text=text,
                published=published,
                first_seen=published,
                author="Staff",
                feed=url,
            )
            writer.add_article(article, url, published)
            if n % 37 == 0:  # a second feed carries it too: it counts once
                writer.add_article(article, FEEDS[(n + 1) % 3][1], published)
            writer.add_mentions(article, matcher.count(article.title, article.text))
            n += 1
    hostile = Article(
        id=article_key("test", "hostile"),
        url=HOSTILE_URL,
        title=HOSTILE_TITLE,
        text='Bukele <a href="javascript:alert(6)">click</a> <iframe src=x></iframe>',
        published=now - timedelta(hours=3),
        first_seen=now - timedelta(hours=3),
        author=HOSTILE_AUTHOR,
        feed=FEEDS[3][1],
    )
    writer.add_article(hostile, FEEDS[3][1], hostile.published)
    writer.add_mentions(hostile, matcher.count(hostile.title, hostile.text))
    for hour in range(days * 24 + 1):
        t = start + timedelta(hours=hour)
        for _, url, _ in FEEDS:
            failed = t.date() == bad_day and url != FEEDS[0][1]
            writer.add_fetch(
                {
                    "feed": url,
                    "time": t,
                    "status": 503 if failed else 200,
                    "outcome": "failed" if failed else "ok",
                    "bytes": 0 if failed else 2048,
                    "new_articles": 0 if failed else 3,
                    "duration": 0.05,
                    "error": "HTTP 503 Service Unavailable" if failed else "",
                }
            )
            st = states[url]
            st.last_poll, st.last_outcome = t, "failed" if failed else "ok"
            st.last_status = 503 if failed else 200
            st.last_error = "HTTP 503 Service Unavailable" if failed else ""
            if not failed:
                st.last_success = t
    states[FEEDS[2][1]].moved_to = "http://127.0.0.1:9/ledger-new.xml"
    for st in states.values():
        writer.set_feed(st)
    writer.commit(watchlist=(WATCH, matcher.fingerprint))
    return config


EXTREME_DATES = (datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999))


def add_extreme_dates(config: Path, seen: datetime) -> None:
    """Two more articles, dated the first and the last instant Python can hold (a feed said
    `Mon, 01 Jan 0001`), each mentioning a watched entity."""
    store = Store(config.parent / "data")
    matcher = Matcher(WATCH)
    writer = store.writer()
    for i, published in enumerate(EXTREME_DATES):
        article = Article(
            id=article_key("test", f"extreme-{i}"),
            url=f"https://news.example/extreme-{i}",
            title=f"Bukele and LexCorp at the edge of time ({published.year})",
            text="Lex Luthor said so.",
            published=published,
            first_seen=seen,
            author="",
            feed=FEEDS[0][1],
        )
        writer.add_article(article, FEEDS[0][1], seen)
        writer.add_mentions(article, matcher.count(article.title, article.text))
    writer.commit()
