"""A small, deterministic store for the dashboard's tests, written with `monitor.store.Writer`.

`build_store(folder, now)` writes `folder/feeds.yaml` and fills `folder/data` the way the poller
would (articles, sources, mentions counted by `Matcher`, fetches, feed state, watchlist), with:

- four feeds in two tags, four watched entities of three kinds, ~20 days of articles;
- one article carried by two feeds (counts once);
- one article in nine that mentions nothing watched;
- a day on which most polls failed (the timeline shades it as degraded);
- one hostile article whose title, text, author and link carry script payloads;
- every article analysed as the poller does (monitor.enrich: tone, story, names), with a
  wire story carried by three feeds under three URLs (one story, three articles), a name
  nobody watches that turns up in the last days ("Perry White", a rising name) and a burst
  of LexCorp articles three days ago (a spike);
- alert rules in feeds.yaml (`ALERTS`) whose history is recorded as the poller records it
  (firings, rule state) up to `now`, and one message to a target that keeps failing (an
  outbox item being retried, a failure, a deliveries row).

It returns the path of feeds.yaml. No network, no clock: `now` is an argument.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from monitor import alerts
from monitor.config import load_config
from monitor.delivery import Dispatcher, _items_for
from monitor.enrich import Enricher
from monitor.match import Matcher
from monitor.models import Article, Entity, FeedState
from monitor.notify import Answer
from monitor.store import Store, Writer, article_key, open_store, update_alerts

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
RISING = "{a} talked to Perry White about {p} again."  # the last days' new name
WIRE = (
    "Lex Luthor said on Tuesday that LexCorp would buy the largest newspaper of Metropolis, "
    "a deal that critics fear will silence the last independent voice in the city. The "
    "board approved the purchase late on Monday. Nayib Bukele praised the deal as a model "
    "for the region, while reporters at the paper said they learned of it from the radio."
)
# the wire story as three feeds carry it: other URLs, a dateline, boilerplate, a summary
WIRE_COPIES = [
    ("LexCorp to buy Metropolis newspaper", WIRE),
    ("Luthor's LexCorp buys the paper", "METROPOLIS (AP) — " + WIRE + " Copyright AP."),
    ("LexCorp to buy Metropolis newspaper", ". ".join(WIRE.split(". ")[:2]) + "…"),
]
SPIKE = "LexCorp shares jumped; LexCorp said its LexCorp tower is safe ({n})."
HOSTILE_RULE = "Luthor [watch](javascript:alert(7)) <b>"
ALERTS = f"""\
notify:
  desk: ["json://127.0.0.1:9/hook"]
alerts:
  - name: LexCorp spike
    when: spike
    entity: LexCorp
    window: 24h
    baseline: 7d
    factor: 2
    min: 6
    to: [desk]
  - name: "{HOSTILE_RULE}"
    when: above
    entities: [Lex Luthor, Nayib Bukele]
    window: 24h
    min: 7
  - name: Feeds down
    when: feed-down
    window: 6h
"""

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


def analysed(writer: Writer, enricher: Enricher, article: Article) -> None:
    """Store an article's mentions, tone, story and names as the poller does."""
    e = enricher.article(article.id, article.published, article.title, article.text, article.feed)
    writer.add_story_and_names(article, e.story, e.names)
    writer.add_mentions(article, e.counts, e.tones, e.story)


def build_store(folder: Path, now: datetime, days: int = 20, per_day: int = 12) -> Path:
    """Write feeds.yaml and a filled store under `folder`; return feeds.yaml's path."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "feeds.yaml"
    config.write_text(feeds_yaml())
    config.write_text(feeds_yaml() + ALERTS)
    store = open_store(folder / "data")
    matcher = Matcher(WATCH)
    enricher = Enricher(matcher)
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
            if day >= days - 3 and k % 3 == 0:
                text += " " + RISING.format(a=a, p=p)
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
            analysed(writer, enricher, article)
            n += 1
    extra = [  # the wire story, carried by three feeds two days ago
        (title, text, now - timedelta(days=2, hours=6 - 2 * i), FEEDS[i][1], f"wire-{i}")
        for i, (title, text) in enumerate(WIRE_COPIES)
    ]
    extra += [  # the spike: LexCorp all over one morning, three days ago
        (f"LexCorp rally ({i})", SPIKE.format(n=i), now - timedelta(days=3, hours=8 - i),
         FEEDS[i % 3][1], f"spike-{i}")
        for i in range(8)
    ]  # fmt: skip
    for title, text, published, feed, key in sorted(extra, key=lambda x: x[2]):
        article = Article(
            id=article_key("test", key),
            url=f"https://{key}.news.example/story",
            title=title,
            text=text,
            published=published,
            first_seen=published,
            author="Wire",
            feed=feed,
        )
        writer.add_article(article, feed, published)
        analysed(writer, enricher, article)
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
    analysed(writer, enricher, hostile)
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
    record_alerts(store, config, now)
    return config


def failing_send(url: str, message: object) -> Answer:
    return Answer(url, False, "HTTP 503 from the webhook")


def record_alerts(store: Store, config_path: Path, now: datetime) -> None:
    """What a poller running all along would have recorded: every rule read at every hour of
    the history (firings, each rule's state), the latest firing of a rule with targets in the
    outbox, and one attempt to send it that failed."""
    config = load_config(config_path)
    snap = store.snapshot()
    first = min(f.min_time for f in snap.files["articles"] if f.min_time)
    boundaries = alerts.hour_boundaries(datetime.fromisoformat(first), now)
    history = alerts.load_history(snap, config, config.alerts, boundaries[0], boundaries[-1])
    states, fired = {}, []
    for rule in config.alerts:
        states[rule.name], firings = alerts.run_rule(rule, history, boundaries, alerts.RuleState())
        fired += firings
    last = {f.alert: f for f in sorted(fired, key=lambda f: f.fired)}
    rules = {r.name: r for r in config.alerts}

    def change(state: dict) -> None:
        state["rules"] = {name: st.to_json() for name, st in states.items()}
        for name, f in last.items():
            state.setdefault("outbox", []).extend(
                _items_for("alert", name, rules[name].to, config, now, firing=f.to_json())
            )

    update_alerts(store, change, firings=[f.row(f.fired) for f in fired])
    Dispatcher(store, config, now=lambda: now, send=failing_send).run_once()


EXTREME_DATES = (datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999))


def add_extreme_dates(config: Path, seen: datetime) -> None:
    """Two more articles, dated the first and the last instant Python can hold (a feed said
    `Mon, 01 Jan 0001`), each mentioning a watched entity."""
    store = open_store(config.parent / "data")
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
