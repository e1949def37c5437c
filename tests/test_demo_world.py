"""The demo world: its feeds, its server and, above all, its ground truth.

The truth is checked against `monitor.match.Matcher` article by article: a disagreement is a
bug in the generator (or in match.py). Feeds are parsed with feedparser and with
`monitor.parse.parse_feed`, and served over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import bisect
import calendar
import gzip
import re
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone

import feedparser
import httpx
import pandas as pd
import pytest

from monitor.demo.server import serve_world
from monitor.demo.world import FORMATS, SPIKE_DAYS_AGO, DemoArticle, World, filler_clashes
from monitor.models import Entity
from monitor.text import canonical_url, fold, html_to_text

NOW = datetime(2025, 6, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> World:
    """The default world, as `monitor demo` shows it."""
    return World.generate(now=NOW)


@pytest.fixture(scope="module")
def small() -> World:
    return World.generate(now=NOW, days=4, articles_per_day=300, live_minutes=60)


def signature(w: World) -> list[tuple[object, ...]]:
    return [
        (
            a.outlet,
            a.feeds,
            a.url,
            a.guid,
            a.title,
            a.text,
            a.html,
            a.feed_html,
            a.published,
            a.mentions,
            a.feed_mentions,
        )
        for a in w.articles
    ]


def entries_by_link(body: bytes) -> tuple[feedparser.FeedParserDict, dict[str, object]]:
    parsed = feedparser.parse(body)
    return parsed, {e.link: e for e in parsed.entries}


def served_path(w: World, path: str) -> str:
    return w.outlet_of(path).moved_to or path


def delivering_paths(w: World) -> list[str]:
    return [served_path(w, p) for p in w.feed_paths() if w.outlet_of(p).delivers]


# --- size, speed, determinism ------------------------------------------------------------------


def test_default_world_has_the_expected_size(world: World) -> None:
    assert len(world.outlets) == 40
    assert len(world.feed_paths()) == 41  # one outlet has two section feeds
    assert len(world.entities) == 15
    history = [a for a in world.articles if a.available <= NOW]
    assert 0.9 * 90 * 500 < len(history) < 1.1 * 90 * 500
    live = [a for a in world.articles if NOW < a.available <= NOW + timedelta(minutes=240)]
    assert 0.8 * 240 * 6 < len(live) < 1.2 * 240 * 6
    assert {o.fmt for o in world.outlets} == set(FORMATS)
    assert {o.health for o in world.outlets} == {"ok", "flaky", "slow", "moved", "gone", "html"}


def test_same_seed_same_world_other_seed_other_world() -> None:
    kwargs = {"now": NOW, "days": 3, "articles_per_day": 200, "live_minutes": 30}
    first, second = World.generate(seed=3, **kwargs), World.generate(seed=3, **kwargs)
    assert signature(first) == signature(second)
    assert first.outlets == second.outlets and first.events == second.events
    assert signature(World.generate(seed=4, **kwargs)) != signature(first)


def test_scale_parameters_are_honoured() -> None:
    w = World.generate(
        now=NOW, days=3, outlets=200, articles_per_day=1000, live_per_minute=2, live_minutes=30
    )
    assert len(w.outlets) == 200
    assert len({o.slug for o in w.outlets}) == len({o.name for o in w.outlets}) == 200
    assert len(set(w.feed_paths())) == len(w.feed_paths()) == 201
    history = [a for a in w.articles if a.available <= NOW]
    assert 0.9 * 3000 < len(history) < 1.1 * 3000
    assert all(NOW - timedelta(days=3) <= a.available for a in history)
    live = [a for a in w.articles if a.available > NOW]
    assert 0.6 * 60 < sum(1 for a in live if a.available <= NOW + timedelta(minutes=30)) < 1.4 * 60
    assert len({a.outlet for a in w.articles}) > 150  # spread over the outlets

    for n in (1, 3, 12):
        tiny = World.generate(now=NOW, days=2, outlets=n, articles_per_day=50)
        assert len(tiny.outlets) == n and tiny.articles
    healthy = World.generate(now=NOW, days=2, articles_per_day=50, unhealthy=False)
    assert {o.health for o in healthy.outlets} == {"ok"}


def test_generate_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timezone"):
        World.generate(now=datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        World.generate(now=NOW, days=0)


# --- the watchlist and the texts ----------------------------------------------------------------


def test_watchlist_covers_the_tricky_cases(world: World) -> None:
    by_name = {e.name: e for e in world.entities}
    assert {e.kind for e in world.entities} == {"person", "organization", "topic", "place"}
    assert by_name["NRTB"].case_sensitive is None  # an acronym: counts only in capitals
    assert by_name["Vellacourt Bank"].exclude == ("Vellacourt Street",)
    assert "Brenwick" in by_name["Talia Brenwick"].aliases
    assert by_name["Ramon Olaizabal"].name.isascii()  # the texts write it with accents

    texts = [a.title + " " + a.text for a in world.articles[:20000]]
    joined = "\n".join(texts)
    for needle in (
        "Olaizábal",  # accents in text, none in the watchlist
        "Vellacourt Street",  # inside an exclude phrase
        "Brenwick’s",  # possessive, curly apostrophe
        "Brenwick's",
        "-led ",
        " ex-",
        "#",
        "Northcoast Rail Transit Board (NRTB)",  # the long name and the acronym: two mentions
        "nrtb.example.org",  # the acronym in lower case: no mention
        "A kestrel",  # a case-sensitive name in the wrong case: no mention
        "Brenwickshire",  # a name glued to more letters: no mention
    ):
        assert needle in joined, needle
    assert any("\n" in a.html and "Talia\nBrenwick" in a.html for a in world.articles[:20000])


def test_filler_never_spells_a_watched_name(world: World) -> None:
    assert filler_clashes(world.entities) == []
    clashes = filler_clashes([Entity("Council Watch", "organization", ("Hospital",))])
    assert any("'council'" in c for c in clashes)
    assert any("'hospital'" in c for c in clashes)


def test_articles_without_watched_names_exist(world: World) -> None:
    quiet = sum(1 for a in world.articles if not a.mentions)
    assert 0.15 * len(world.articles) < quiet < 0.45 * len(world.articles)


# --- the ground truth ---------------------------------------------------------------------------


def test_truth_agrees_with_the_matcher_article_by_article(world: World) -> None:
    """Both tallies of every article: on its whole text (its page) and on what its feed
    carries (the whole text, or a one-sentence summary)."""
    from monitor.match import Matcher

    matcher = Matcher(world.entities)
    wrong = []
    for a in world.articles:
        counted = matcher.count(a.title, a.text)
        if counted != a.mentions:
            wrong.append((a.url, a.mentions, counted, a.title, a.text))
        counted = matcher.count(a.title, a.feed_text)
        if counted != a.feed_mentions:
            wrong.append((a.url, a.feed_mentions, counted, a.title, a.feed_text))
    assert not wrong, f"{len(wrong)} articles disagree; first: {wrong[:3]}"


def counted_text(w: World, a: DemoArticle) -> str:
    """The text a poller reading pages counts an article on: its page's when the page gives
    the article (not refused by robots.txt, not behind the paywall), else its feed's."""
    return a.text if w.outlet_of(a.feeds[0]).pages == "ok" else a.feed_text


def test_truth_table_agrees_with_the_matcher(world: World) -> None:
    from monitor.match import Matcher

    until = NOW + timedelta(minutes=45)
    seen = until
    matcher = Matcher(world.entities)
    mentions: Counter[tuple[str, object]] = Counter()
    articles: Counter[tuple[str, object]] = Counter()
    for a in world.articles:
        if a.available > until:
            continue
        day = (a.published or seen).astimezone(UTC).date()
        for entity, n in matcher.count(a.title, counted_text(world, a)).items():
            mentions[entity, day] += n
            articles[entity, day] += 1
    expected = pd.DataFrame(
        sorted((e, d, mentions[e, d], articles[e, d]) for e, d in mentions),
        columns=["entity", "day", "mentions", "articles"],
    ).astype({"mentions": "int64", "articles": "int64"})
    pd.testing.assert_frame_equal(world.truth(until, seen), expected)
    # without reading pages, what the feeds carry
    feeds_only = world.truth(until, seen, full_text=False)
    assert feeds_only["mentions"].sum() == sum(
        n for a in world.articles if a.available <= until for n in a.feed_mentions.values()
    )
    assert feeds_only["mentions"].sum() < expected["mentions"].sum()


def test_truth_shape_and_undated_placement(small: World) -> None:
    until = NOW + timedelta(minutes=30)
    seen = datetime(2025, 6, 3, 23, 30, tzinfo=timezone(timedelta(hours=-3))).astimezone(
        UTC
    )  # 4 June UTC
    truth = small.truth(until, seen)
    assert list(truth.columns) == ["entity", "day", "mentions", "articles"]
    assert truth["mentions"].dtype == "int64" and truth["articles"].dtype == "int64"
    assert all(type(d).__name__ == "date" for d in truth["day"])
    assert (truth["articles"] > 0).all() and (truth["mentions"] >= truth["articles"]).all()
    assert set(truth["entity"]) <= {e.name for e in small.entities}

    undated = [a for a in small.articles if a.published is None and a.available <= until]
    assert undated
    on_seen_day = truth[truth["day"] == seen.date()]
    expected_undated = Counter(e for a in undated for e in a.mentions)
    got = dict(zip(on_seen_day["entity"], on_seen_day["articles"], strict=True))
    assert got == dict(expected_undated)  # nothing else is dated 4 June

    stored = small.expected_articles(until)
    assert stored == sum(1 for a in small.articles if a.available <= until)
    assert stored == len(small.delivered(until))
    assert small.expected_articles(NOW) < stored  # live items arrived in between
    assert small.truth(NOW - timedelta(days=10), seen).empty


def test_truth_counts_each_article_once(small: World) -> None:
    shared = [a for a in small.articles if len(a.feeds) == 2]
    assert shared
    urls = [a.url for a in small.articles]
    assert len(urls) == len(set(urls))  # one article per URL, even when two feeds carry it


# --- feeds --------------------------------------------------------------------------------------


def test_feeds_of_every_format_parse_with_feedparser(small: World) -> None:
    versions = {"rss": "rss20", "atom": "atom10", "rdf": "rss10"}
    seen_formats = set()
    for path in delivering_paths(small):
        outlet = small.outlet_of(path)
        body = small.render_feed(path, NOW)
        parsed, by_link = entries_by_link(body)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert parsed.version == versions[outlet.fmt]
        expected = [a for a in small.articles_in(path) if a.available <= NOW]
        assert len(parsed.entries) == len(expected) == small.visible_count(path, NOW)
        for a in expected:
            entry = by_link[a.url]
            assert entry.title == a.title
            parts = entry.get("content") or []
            carried = parts[0].value if parts else entry.summary
            assert html_to_text(carried) == a.feed_text
            stamp = entry.get("published_parsed") or entry.get("updated_parsed")
            if a.published is None:
                assert stamp is None
            else:
                assert calendar.timegm(stamp) == a.published.timestamp(), (path, a.url)
        seen_formats.add(outlet.fmt)
    assert seen_formats == set(FORMATS)


def test_feeds_parse_with_our_parser(small: World) -> None:
    """What monitor.parse reads from each feed is exactly what the truth is counted on."""
    from monitor.parse import parse_feed

    for path in delivering_paths(small):
        feed = parse_feed(small.render_feed(path, NOW), "http://127.0.0.1" + path)
        by_link = {e.link: e for e in feed.entries}
        expected = [a for a in small.articles_in(path) if a.available <= NOW]
        assert len(feed.entries) == len(expected)
        for a in expected:
            entry = by_link[canonical_url(a.url)]
            got = (entry.title, entry.text, entry.published)
            assert got == (a.title, a.feed_text, a.published), (path, a.url)


# --- article pages ------------------------------------------------------------------------------


def test_every_page_gives_exactly_what_the_truth_counts(small: World) -> None:
    """Read by monitor.extract, each page gives the article's text (its mentions exactly) or,
    behind the paywall, too little text; the boilerplate around it names watched entities
    and counts for nothing."""
    from monitor.extract import read_page
    from monitor.match import Matcher

    matcher = Matcher(small.entities)
    site = "http://127.0.0.1:8765"
    wrong, statuses, noisy = [], Counter(), 0
    for a in small.articles:
        outlet = small.outlet_of(a.feeds[0])
        page = small.render_page(a, site)
        got = read_page(page, "text/html; charset=utf-8", a.title, len(a.feed_text))
        statuses[outlet.pages, got.status] += 1
        everything = matcher.count(a.title, html_to_text(page.decode()))
        noisy += sum(everything.values()) > sum(a.mentions.values())
        if outlet.pages == "paywall":
            continue
        if got.status != "ok" or matcher.count(a.title, got.text) != a.mentions:
            wrong.append((a.url, got.status, got.reason, a.mentions))
    assert not wrong, f"{len(wrong)} pages disagree; first: {wrong[:3]}"
    assert statuses["paywall", "short"] > 20 and not statuses["paywall", "ok"]
    assert statuses["ok", "ok"] > 1000
    assert noisy == len(small.articles)  # every page's boilerplate names watched entities


def test_robots_txt_refuses_one_outlets_pages_to_media_monitor(small: World) -> None:
    from protego import Protego

    from monitor.fetch import DEFAULT_USER_AGENT

    rules = Protego.parse(small.robots_txt())
    site = "http://127.0.0.1:8765"
    for a in small.articles[:3000]:
        allowed = rules.can_fetch(a.link(site), DEFAULT_USER_AGENT)
        assert allowed == (small.outlet_of(a.feeds[0]).pages != "robots"), a.url
        assert rules.can_fetch(a.link(site), "SomeOtherBot/1.0")
    refused = [o for o in small.outlets if o.pages == "robots"]
    assert refused and all(not o.full_content for o in refused)
    for o in small.outlets:  # feeds are not refused (feed readers do not read robots.txt)
        assert all(rules.can_fetch(site + path, DEFAULT_USER_AGENT) for path in o.feeds)


def test_feeds_link_to_the_pages_on_the_server(small: World) -> None:
    from monitor.parse import parse_feed

    site = "http://127.0.0.1:8765"
    path = next(p for p in delivering_paths(small) if small.outlet_of(p).link_suffix)
    feed = parse_feed(small.render_feed(path, NOW, site=site), site + path)
    assert feed.link == site + f"/{small.outlet_of(path).slug}/"
    for entry in feed.entries:
        page_path = entry.link.removeprefix(site).partition("?")[0]
        a = small.page(page_path)
        assert a is not None and a.title == entry.title
        assert canonical_url(a.link(site), fragment=True) == entry.link  # utm_* dropped


def test_dates_in_several_formats_and_time_zones(world: World) -> None:
    styles = {(o.fmt, o.date_style) for o in world.outlets if o.delivers}
    for style in ("+0000", "-0600", "+0100", "GMT", "EST"):
        assert ("rss", style) in styles
    for style in ("Z", "+02:00", "-05:00", "+05:30"):
        assert ("atom", style) in styles
    assert {s for f, s in styles if f == "rdf"} >= {"Z", "+01:00"}

    patterns = {
        "EST": rb"<pubDate>\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d EST</pubDate>",
        "-0600": rb"<pubDate>\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d -0600</pubDate>",
        "+05:30": rb"<published>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30</published>",
        "rdf": rb"<dc:date>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)</dc:date>",
    }
    for outlet in world.outlets:
        if not outlet.delivers:
            continue
        key = "rdf" if outlet.fmt == "rdf" else outlet.date_style
        if key not in patterns:
            continue
        path = outlet.moved_to or outlet.feeds[0]
        body = world.render_feed(path, NOW, limit=20)
        assert re.search(patterns.pop(key), body), (outlet.name, key)
        parsed = feedparser.parse(body)
        by_url = {a.url: a for a in world.articles_in(path)}
        for entry in parsed.entries:
            a = by_url[entry.link]
            stamp = entry.get("published_parsed") or entry.get("updated_parsed")
            if a.published is not None:
                assert calendar.timegm(stamp) == a.published.timestamp()
    assert not patterns


def test_entities_and_accents_in_feeds(world: World) -> None:
    bodies = {
        p: world.render_feed(served_path(world, p), NOW, limit=100) for p in world.feed_paths()
    }
    everything = b"".join(bodies.values())
    assert b"&amp;eacute;" in everything  # a named HTML entity inside escaped HTML
    assert b"&amp;#8217;" in everything or b"&#8217;" in everything
    assert b"<![CDATA[" in everything
    assert "á".encode() in everything  # raw UTF-8 accents elsewhere
    assert b"&#233;" in everything or b"&#225;" in everything  # character references in titles
    assert any("&" in a.title for a in world.articles)
    assert any(not a.title.isascii() for a in world.articles)
    assert any(a.lang == "es" for a in world.articles) and any(
        a.lang == "en" for a in world.articles
    )


def test_full_content_and_summaries(small: World) -> None:
    full = [o for o in small.outlets if o.delivers and o.full_content]
    summary = [o for o in small.outlets if o.delivers and not o.full_content]
    assert full and summary
    full_articles = [a for a in small.articles if a.outlet == full[0].slug]
    assert any(a.html.count("<p>") >= 3 for a in full_articles)
    assert all(a.feed_text == a.text and a.feed_html == a.html for a in full_articles)
    assert all(a.feed_mentions == a.mentions for a in full_articles)
    summaries = [a for o in summary for a in small.articles if a.outlet == o.slug]
    # a summary is the article's first sentence; the article is much longer
    assert all(a.feed_text == a.teaser and a.text.startswith(a.teaser) for a in summaries)
    assert all(len(a.text) >= max(600, 2 * len(a.teaser)) for a in small.articles)
    assert max(len(a.feed_text) for a in summaries) < 300
    assert sum(a.feed_mentions != a.mentions for a in summaries) > len(summaries) / 3


def test_undated_items(small: World) -> None:
    undated = [a for a in small.articles if a.published is None]
    assert any(a.available <= NOW for a in undated) and any(a.available > NOW for a in undated)
    for a in undated:
        assert small.outlet_of(a.feeds[0]).fmt in ("rss", "rdf")
    for a in [a for a in undated if a.available <= NOW][:10]:
        body = small.render_feed(served_path(small, a.feeds[0]), NOW).decode()
        link = f"<link>{a.url.replace('&', '&amp;')}</link>"
        item = next(block for block in body.split("</item>") if link in block)
        assert "<pubDate>" not in item and "<dc:date>" not in item
        others = [block for block in body.split("</item>")[:-1] if link not in block]
        assert any("<pubDate>" in block or "<dc:date>" in block for block in others)


CREDIT = re.compile(
    r" (?:(?:Copyright|©) \d{4} .*|This article was originally published by .*|Reporting by .*)$"
)


def test_syndicated_copies(world: World) -> None:
    """Wire stories run in other outlets as real syndication does: word for word, or with the
    agency's tag in the dateline, another headline, a sentence replaced, a copyright line or
    credit appended. No change touches a watched name: every copy has its story's mentions
    (and test_truth_agrees_with_the_matcher_article_by_article checks them on its text)."""
    from monitor.match import Matcher

    matcher = Matcher(world.entities)
    stories: defaultdict[int, list[DemoArticle]] = defaultdict(list)
    for a in world.articles:
        stories[a.story].append(a)
    copies = [group for group in stories.values() if len(group) > 1]
    assert len(copies) > 500
    wires = {o.slug: o for o in world.outlets if "wire" in o.tags}
    seen: Counter[str] = Counter()
    for group in copies:
        assert 2 <= len(group) <= 5
        assert len({a.url for a in group}) == len({a.outlet for a in group}) == len(group)
        assert all(a.mentions is group[0].mentions for a in group)
        original, *others = sorted(group, key=lambda a: a.available)
        wire = wires[original.outlet]
        tag = "".join(w[0] for w in wire.name.split())
        assert f" ({wire.name}) — " in original.teaser
        sentences = re.split(r"(?<=\.) ", original.text)
        for a in others:
            seen["copies"] += 1
            same_text = a.text == original.text
            seen["word for word"] += same_text and a.title == original.title
            seen["headline"] += a.title != original.title
            seen["tag"] += f" ({tag}) -- " in a.teaser
            tagged = original.teaser.replace(f"({wire.name}) —", f"({tag}) --")
            assert a.teaser in (original.teaser, tagged)
            assert a.text.startswith(a.teaser)
            credit = CREDIT.search(a.text)
            seen["credit"] += credit is not None
            rest = a.text[: credit.start()] if credit else a.text
            # the original's sentences, one of them (not the first) maybe replaced, and maybe
            # filler after them where the shorter tag would make the copy too short
            mine = re.split(r"(?<=\.) ", rest)
            assert len(mine) >= len(sentences)
            replaced = [k for k, s in enumerate(sentences) if k and mine[k] != s]
            assert len(replaced) <= 1
            seen["edited"] += bool(replaced)
            if len(mine) > len(sentences):
                assert len(" ".join(mine[: len(sentences)])) < 600
            if not same_text:
                assert matcher.count(a.title, a.text) == original.mentions
    for kind in ("word for word", "headline", "tag", "credit", "edited"):
        assert 0.05 * seen["copies"] < seen[kind] < 0.7 * seen["copies"], (kind, seen)
    assert all(min(group, key=lambda a: a.available).outlet in wires for group in copies)


def test_known_spike_in_the_last_days(world: World, small: World) -> None:
    """The world's known spike (the demo's alert rule fires on it): one entity's coverage
    jumps two days before `now`, far above the two weeks before, with no other burst of
    that entity; a world too short for two weeks of baseline has none."""
    assert world.spike is not None
    entity, start = world.spike
    assert start == world.now - timedelta(days=SPIKE_DAYS_AGO) == world.now - timedelta(days=2)
    assert [e for e, _, _ in world.events].count(entity) == 1
    assert (entity, start.date(), SPIKE_DAYS_AGO) in world.events

    def mentions(day: int) -> int:  # the entity's mentions in the day starting `day` days after
        lo, hi = start + timedelta(days=day), start + timedelta(days=day + 1)
        return sum(
            a.mentions.get(entity, 0)
            for a in world.articles
            if a.published is not None and lo <= a.published < hi
        )

    before = [mentions(-d) for d in range(1, 15)]
    baseline = sum(before) / len(before)
    assert mentions(0) >= max(4 * baseline, 100)  # the alert rule fires at 3x
    assert max(before) < 2 * baseline  # nothing like it in the two weeks before
    assert small.spike is None


def test_section_feeds_share_items_with_the_same_url(small: World) -> None:
    outlet = next(o for o in small.outlets if len(o.feeds) == 2)
    assert outlet.sections == ("world", "americas")
    shared = [a for a in small.articles if a.feeds == outlet.feeds and a.available <= NOW]
    assert shared
    world_feed, americas_feed = (small.render_feed(p, NOW).decode() for p in outlet.feeds)
    for a in shared[:20]:
        url = a.url.replace("&", "&amp;")
        assert url in world_feed and url in americas_feed
    only_one = [a for a in small.articles if a.outlet == outlet.slug and len(a.feeds) == 1]
    assert {a.feeds[0] for a in only_one} == set(outlet.feeds)


def test_new_items_keep_arriving_and_limit_keeps_the_newest(small: World) -> None:
    path = max(delivering_paths(small), key=lambda p: small.visible_count(p, NOW))
    before = small.visible_count(path, NOW)
    later = small.visible_count(path, NOW + timedelta(minutes=30))
    assert later > before
    total_new = small.expected_articles(NOW + timedelta(minutes=10)) - small.expected_articles(NOW)
    assert 30 <= total_new <= 90  # about 6 a minute

    parsed = feedparser.parse(small.render_feed(path, NOW, limit=50))
    assert len(parsed.entries) == 50
    newest = sorted(
        (a for a in small.articles_in(path) if a.available <= NOW), key=lambda a: a.available
    )[-50:][::-1]
    assert [e.link for e in parsed.entries] == [a.url for a in newest]
    assert all(a.available <= NOW for a in newest)


@pytest.mark.parametrize("items", [5, 40, 300, 2000])
def test_catch_up_times_let_bounded_feeds_show_every_item(world: World, items: int) -> None:
    """Polled at these moments, feeds of `items` items miss nothing, with few moments."""
    until = NOW + timedelta(minutes=5)
    moments = world.catch_up_times(until, items)
    assert moments[-1] == until and moments == sorted(set(moments))
    visible = {}
    for path in {served_path(world, p) for p in world.feed_paths()}:
        times = sorted(a.available.timestamp() for a in world.articles_in(path))
        shown = 0  # the items a poller has seen after each moment
        for moment in moments:
            now_visible = bisect.bisect_right(times, moment.timestamp())
            assert now_visible - shown <= items, (path, moment)
            shown = now_visible
        assert shown == world.visible_count(path, until)
        visible[path] = shown
    # each moment but the last is as late as the busiest feed allows: few moments
    assert -(-max(visible.values()) // items) <= len(moments) <= sum(visible.values()) / items + 1
    # and a single moment when every feed fits whole
    assert world.catch_up_times(until, max(visible.values())) == [until]


def test_feeds_yaml_is_a_valid_config(world: World, tmp_path) -> None:
    from monitor.config import load_config

    text = world.feeds_yaml("http://127.0.0.1:8765/", store="data", every="30s")
    assert text.startswith("# ") and "demo world" in text.splitlines()[0]
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    assert config.store == tmp_path / "data"
    assert config.poll.every == timedelta(seconds=30)
    assert [f.url for f in config.feeds] == [
        "http://127.0.0.1:8765" + p for p in world.feed_paths()
    ]
    assert {f.name for f in config.feeds} >= {o.name for o in world.outlets if len(o.feeds) == 1}
    assert list(config.watch) == world.entities
    # the demo reads pages: of every feed but those whose entries carry whole articles
    assert config.poll.full_text is True
    for feed, path in zip(config.feeds, world.feed_paths(), strict=True):
        assert feed.full_text is (False if world.outlet_of(path).full_content else None)


# --- the server ---------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def served(small: World):
    clock = Clock(NOW)
    with serve_world(small, clock=clock, slow_delay=0.3) as server:
        yield small, server, clock


def path_of(w: World, health: str) -> str:
    return next(o for o in w.outlets if o.health == health).feeds[0]


def test_server_validators_304_and_gzip(served) -> None:
    w, server, clock = served
    path = next(p for p in w.feed_paths() if w.outlet_of(p).health == "ok")
    url = server.url(path)
    with httpx.Client() as client:
        r = client.get(url, headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith(f"application/{w.outlet_of(path).fmt}+xml")
        assert r.content == w.render_feed(path, NOW, site=server.base_url)
        etag, modified = r.headers["etag"], r.headers["last-modified"]
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
        assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
        assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200

        clock.now = NOW + timedelta(hours=2)  # new items arrive
        r2 = client.get(url, headers={"If-None-Match": etag})
        assert r2.status_code == 200 and r2.headers["etag"] != etag
        assert len(feedparser.parse(r2.content).entries) > len(feedparser.parse(r.content).entries)
        assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 200

    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(response.read()) == w.render_feed(
            path, clock.now, site=server.base_url
        )


def test_server_misbehaving_feeds(served) -> None:
    w, server, _ = served
    with httpx.Client(timeout=10) as client:
        flaky = server.url(path_of(w, "flaky"))
        assert [client.get(flaky).status_code for _ in range(6)] == [200, 500, 200, 200, 500, 200]

        moved = w.outlets[[o.health for o in w.outlets].index("moved")]
        r = client.get(server.url(moved.feeds[0]))
        assert r.status_code == 301 and r.headers["location"] == server.url(moved.moved_to)
        r = client.get(server.url(moved.feeds[0]), follow_redirects=True)
        assert r.status_code == 200 and feedparser.parse(r.content).entries

        assert client.get(server.url(path_of(w, "gone"))).status_code == 410
        r = client.get(server.url(path_of(w, "html")))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.text.lstrip().lower().startswith("<!doctype html")

        started = time.monotonic()
        assert client.get(server.url(path_of(w, "slow"))).status_code == 200
        assert time.monotonic() - started >= 0.3

        assert client.get(server.url("/nothing-here.xml")).status_code == 404
        index = client.get(server.base_url + "/")
        assert index.status_code == 200 and "Ostrelle" in index.text


def test_server_pages_and_robots_txt(served) -> None:
    w, server, clock = served
    shown = next(a for a in w.articles if a.available <= NOW and a.full_feed)
    later = next(a for a in w.articles if a.available > NOW)
    with httpx.Client(timeout=10) as client:
        r = client.get(shown.link(server.base_url))  # tracking parameters and all
        assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
        assert r.content == w.render_page(shown, server.base_url)
        assert f"<h1>{shown.title}</h1>" in html_to_text(r.text) or shown.title in r.text
        assert client.get(later.link(server.base_url)).status_code == 404  # not published yet
        clock.now = later.available
        assert client.get(later.link(server.base_url)).status_code == 200
        assert client.get(server.url(shown.path + "-nope")).status_code == 404
        robots = client.get(server.url("/robots.txt"))
        assert robots.status_code == 200 and robots.text == w.robots_txt()
        assert "User-agent: media-monitor" in robots.text


def test_server_limit_and_concurrent_clients(small: World) -> None:
    with serve_world(small, clock=lambda: NOW, limit=50) as server:
        paths = delivering_paths(small)
        paths = [p for p in paths if small.outlet_of(p).health == "ok"]
        statuses: Counter[int] = Counter()
        lock = threading.Lock()

        def poll() -> None:
            with httpx.Client(timeout=10) as client:
                for p in paths:
                    r = client.get(server.url(p))
                    with lock:
                        statuses[r.status_code] += 1

        threads = [threading.Thread(target=poll) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == {200: 8 * len(paths)}
        busiest = max(paths, key=lambda p: small.visible_count(p, NOW))
        assert small.visible_count(busiest, NOW) > 50
        body = httpx.get(server.url(busiest)).content
        assert len(feedparser.parse(body).entries) == 50


def test_fold_is_accent_insensitive_as_the_truth_assumes() -> None:
    # The watchlist writes "Olaizabal"; texts write "Olaizábal" and "OLAIZÁBAL".
    assert fold("OLAIZÁBAL") == fold("Olaizábal") == "olaizabal"
