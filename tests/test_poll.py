"""The poller end to end against a local HTTP server: what crosses the wire, what is stored."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from monitor import queries
from monitor.cli import main
from monitor.config import load_config
from monitor.models import TITLE_MAX_CHARS, Entry, FeedState, FetchResult
from monitor.poll import Poller, make_article, next_poll
from monitor.store import open_store
from tests.feedserver import FeedServer

NOW = datetime.now(UTC).replace(microsecond=0)


def rss(*items: tuple[str, str, datetime | None]) -> bytes:
    parts = []
    for title, link, published in items:
        date = f"<pubDate>{format_datetime(published)}</pubDate>" if published else ""
        parts.append(
            f"<item><title>{title}</title><link>{link}</link>{date}"
            "<description>Story text.</description></item>"
        )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        + "".join(parts)
        + "</channel></rss>"
    ).encode()


@pytest.fixture
def server():
    with FeedServer() as s:
        yield s


def write_config(tmp_path, server, feeds: list[str], extra: str = "") -> object:
    # no page is read: the entries link to invented hosts (tests/test_pages.py reads pages)
    lines = ["store: data", "poll:", "  every: 15m", "  timeout: 2s", "  full_text: false"]
    lines.append("feeds:")
    for i, path in enumerate(feeds):
        lines += [f"  - name: Feed {i}", f"    url: {server.url(path)}", "    tags: [t]"]
    lines += [
        "watch:",
        "  - name: Nayib Bukele",
        "    kind: person",
        "    aliases: [Bukele]",
        "  - name: CECOT",
        "    kind: topic",
    ]
    path = tmp_path / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return load_config(path)


def poll(config):
    poller = Poller(config)
    return asyncio.run(poller.poll_once())


def test_poll_stores_articles_and_mentions_and_sends_validators_back(tmp_path, server):
    body = rss(
        ("Bukele visits CECOT", "http://a.example/1", NOW - timedelta(hours=2)),
        ("Nayib Bukele speaks", "http://a.example/2", NOW - timedelta(hours=1)),
    )
    server.feed("/a", body, etag='"v1"', last_modified="Mon, 02 Nov 2026 10:00:00 GMT")
    config = write_config(tmp_path, server, ["/a"])
    first = poll(config)
    assert (first.ok, first.new_articles, first.new_mentions) == (1, 2, 3)
    snap = open_store(config.store).snapshot()
    counts = queries.mention_counts(snap, queries.Filters())
    assert dict(zip(counts["entity"], counts["mentions"], strict=True)) == {
        "Nayib Bukele": 2,
        "CECOT": 1,
    }
    second = poll(config)
    assert (second.unchanged, second.new_articles) == (1, 0)
    last = server.requests_to("/a")[-1]
    assert last.headers["if-none-match"] == '"v1"'
    assert last.headers["if-modified-since"] == "Mon, 02 Nov 2026 10:00:00 GMT"
    assert "media-monitor/" in last.headers["user-agent"]
    assert open_store(config.store).snapshot().rows("articles") == 2


def test_a_failing_feed_is_recorded_and_the_others_carry_on(tmp_path, server):
    server.feed("/good", rss(("CECOT news", "http://a.example/1", NOW)))
    server.feed("/bad", b"oops", status=500)
    server.feed("/html", b"<!DOCTYPE html><html><body>hi</body></html>")
    config = write_config(tmp_path, server, ["/good", "/bad", "/html"])
    summary = poll(config)
    assert (summary.ok, summary.failed, summary.new_articles) == (1, 2, 1)
    snap = open_store(config.store).snapshot()
    bad = snap.feeds[server.url("/bad")]
    assert bad.last_status == 500 and "500" in bad.last_error and bad.failures == 1
    assert "HTML page" in snap.feeds[server.url("/html")].last_error
    log = snap.query("SELECT feed, outcome, status, error FROM {fetches} ORDER BY feed")
    assert sorted(log["outcome"]) == ["failed", "failed", "ok"]


def test_same_url_in_two_feeds_is_one_article_with_both_feeds(tmp_path, server):
    item = ("CECOT story", "http://a.example/shared?utm_source=x", NOW)
    server.feed("/one", rss(item))
    server.feed("/two", rss(item, ("Other", "http://a.example/other", NOW)))
    config = write_config(tmp_path, server, ["/one", "/two"])
    poll(config)
    snap = open_store(config.store).snapshot()
    assert snap.rows("articles") == 2
    page = queries.articles(snap, queries.Filters(entities=("CECOT",)))
    assert page["url"].tolist() == ["http://a.example/shared"]
    feeds = queries.article_feeds(snap, page["id"].tolist())
    assert sorted(feeds["feed"]) == [server.url("/one"), server.url("/two")]
    # the same article, counted once
    counts = queries.mention_counts(snap, queries.Filters())
    assert counts.set_index("entity").loc["CECOT", "articles"] == 1


def test_missing_and_future_dates_fall_back_to_first_seen_and_are_flagged(tmp_path, server):
    server.feed(
        "/d",
        rss(
            ("no date", "http://a.example/1", None),
            ("future", "http://a.example/2", NOW + timedelta(days=3)),
            ("fine", "http://a.example/3", NOW - timedelta(days=2)),
        ),
    )
    config = write_config(tmp_path, server, ["/d"])
    poll(config)
    snap = open_store(config.store).snapshot()
    df = snap.query("SELECT title, date_flag, published, first_seen FROM {articles} ORDER BY title")
    flags = dict(zip(df["title"], df["date_flag"], strict=True))
    assert flags == {"fine": "", "future": "future", "no date": "missing"}
    for _, row in df[df["date_flag"] != ""].iterrows():
        assert row["published"] == row["first_seen"]
    flagged = queries.count_articles(snap, queries.Filters(date_flags=("missing", "future")))
    assert flagged == 2


def test_gone_feed_is_not_polled_again_until_its_entry_changes(tmp_path, server):
    server.feed("/gone", b"", status=410)
    config = write_config(tmp_path, server, ["/gone"])
    assert poll(config).gone == 1
    assert poll(config).feeds == 0  # skipped
    assert len(server.requests_to("/gone")) == 1
    st = open_store(config.store).snapshot().feeds[server.url("/gone")]
    assert st.gone
    text = config.path.read_text().replace("name: Feed 0", "name: Feed zero")
    config.path.write_text(text)
    assert poll(load_config(config.path)).gone == 1  # the changed entry is tried again
    assert len(server.requests_to("/gone")) == 2


def test_permanent_redirect_is_followed_and_reported(tmp_path, server):
    server.feed("/new", rss(("CECOT", "http://a.example/1", NOW)))
    server.redirect("/old", "/new", status=301)
    config = write_config(tmp_path, server, ["/old"])
    summary = poll(config)
    assert summary.new_articles == 1
    assert summary.moved == [("Feed 0", server.url("/new"))]
    assert open_store(config.store).snapshot().feeds[server.url("/old")].moved_to == server.url(
        "/new"
    )


def test_identical_body_without_validators_is_skipped(tmp_path, server):
    server.feed("/plain", rss(("CECOT", "http://a.example/1", NOW)), etag=None)
    config = write_config(tmp_path, server, ["/plain"])
    assert poll(config).ok == 1
    assert poll(config).unchanged == 1


def test_new_entity_gets_its_full_history_after_the_watchlist_changes(tmp_path, server):
    server.feed("/a", rss(("El Faro reports on CECOT", "http://a.example/1", NOW)))
    config = write_config(tmp_path, server, ["/a"])
    poll(config)
    extra = "  - name: El Faro\n    kind: organization\n"
    config.path.write_text(config.path.read_text() + extra)
    poller = Poller(load_config(config.path))
    poller.open()  # notices the new watchlist and recounts
    snap = open_store(config.store).snapshot()
    counts = queries.mention_counts(snap, queries.Filters())
    assert set(counts["entity"]) == {"CECOT", "El Faro"}


def test_make_article_and_next_poll_rules():
    seen = datetime(2026, 11, 2, tzinfo=UTC)
    entry = Entry(guid="g", link="", title="t", text="x", published=None)
    a = make_article(entry, "http://f", seen)
    assert a.date_flag == "missing" and a.published == seen
    b = make_article(entry, "http://other", seen)
    assert a.id != b.id  # no link: keyed by feed + guid
    st = FeedState(url="u", failures=3)
    failed = FetchResult(url="u", outcome="failed")
    assert next_poll(st, timedelta(minutes=15), failed, seen) == seen + timedelta(hours=1)
    st.failures = 30
    assert next_poll(st, timedelta(minutes=15), failed, seen) == seen + timedelta(hours=24)
    limited = FetchResult(url="u", outcome="failed", retry_after=7200)
    st.failures = 1
    assert next_poll(st, timedelta(minutes=15), limited, seen) == seen + timedelta(hours=2)
    assert next_poll(st, timedelta(minutes=15), FetchResult("u", "gone"), seen) is None


# -- delays from servers and from the manifest never overflow -------------------------------

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("outcome", "field", "value", "wait"),
    [
        ("failed", "retry_after", 1e20, timedelta(hours=24)),
        ("failed", "retry_after", float("inf"), timedelta(hours=24)),
        ("failed", "retry_after", float("nan"), timedelta(minutes=15)),
        ("failed", "retry_after", -5.0, timedelta(minutes=15)),
        ("ok", "max_age", 1e20, timedelta(hours=6)),
        ("ok", "max_age", float("inf"), timedelta(hours=6)),
        ("ok", "max_age", float("nan"), timedelta(minutes=15)),
        ("ok", "max_age", -1e20, timedelta(minutes=15)),
        ("ok", "retry_after", 1e300, timedelta(hours=24)),
    ],
)
def test_next_poll_clamps_what_a_server_asks(outcome, field, value, wait):
    seen = datetime(2026, 11, 2, tzinfo=UTC)
    result = FetchResult(url="u", outcome=outcome, **{field: value})
    assert next_poll(FeedState(url="u"), timedelta(minutes=15), result, seen) == seen + wait


def test_next_poll_never_overflows_near_the_end_of_time():
    late = datetime(9999, 12, 31, tzinfo=UTC)
    limited = FetchResult(url="u", outcome="failed", retry_after=1e20)
    assert next_poll(FeedState(url="u", failures=40), timedelta(days=1), limited, late) == (
        datetime.max.replace(tzinfo=UTC)
    )
    huge_interval = timedelta(days=999_999_000)  # times 2**16 after failures: past timedelta
    st = FeedState(url="u", failures=20)
    seen = datetime(2026, 11, 2, tzinfo=UTC)
    failed = FetchResult(url="u", outcome="failed")
    assert next_poll(st, huge_interval, failed, seen) == datetime.max.replace(tzinfo=UTC)


def test_absurd_server_delays_schedule_and_survive_a_restart(tmp_path, server):
    """Retry-After / max-age of 99999999999999999999 raised OverflowError at every start."""
    server.feed("/limited", b"", status=429, headers={"Retry-After": HUGE})
    server.feed(
        "/cached",
        rss(("CECOT", "http://a.example/1", NOW)),
        headers={"Cache-Control": f"max-age={HUGE}", "Expires": f"Fri, 31 Dec {HUGE} GMT"},
    )
    config = write_config(tmp_path, server, ["/limited", "/cached"])
    clock = [NOW]
    poller = Poller(config, now=lambda: clock[0])
    summary = asyncio.run(poller.poll_once())
    assert (summary.ok, summary.failed) == (1, 1)
    states = open_store(config.store).snapshot().feeds
    assert states[server.url("/limited")].next_poll == NOW + timedelta(hours=24)
    assert states[server.url("/cached")].next_poll == NOW + timedelta(hours=6)
    restarted = Poller(load_config(config.path), now=lambda: clock[0])
    restarted.open()
    assert restarted.due_feeds() == []
    assert restarted._seconds_to_next() == 60.0  # wakes up to check, polls nothing
    clock[0] = NOW + timedelta(hours=7)
    assert [f.name for f in restarted.due_feeds()] == ["Feed 1"]
    assert asyncio.run(restarted.poll(restarted.due_feeds())).unchanged == 1


def test_a_manifest_with_absurd_next_polls_loads_and_schedules(tmp_path, server, capsys):
    for path in ("/a", "/b", "/c", "/d"):
        server.feed(path, rss(("CECOT", f"http://a.example{path}", NOW)))
    config = write_config(tmp_path, server, ["/a", "/b", "/c", "/d"])
    poll(config)
    manifest = config.store / "manifest.json"
    data = json.loads(manifest.read_text())
    absurd = {
        "/a": "9999-12-31T23:59:59.999999+00:00",
        "/b": "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
        "/c": "2030-01-01T00:00:00",  # no offset
        "/d": 12345,  # not a time at all
    }
    for path, value in absurd.items():
        data["feeds"][server.url(path)]["next_poll"] = value
    manifest.write_text(json.dumps(data))

    poller = Poller(load_config(config.path), now=lambda: NOW)
    poller.open()
    next_polls = {url: st.next_poll for url, st in poller.states.items()}
    assert next_polls[server.url("/a")] == NOW + timedelta(hours=24)  # the latest any rule sets
    assert next_polls[server.url("/b")] == NOW  # long past: poll now
    assert next_polls[server.url("/c")] == NOW + timedelta(hours=24)
    assert next_polls[server.url("/d")] == NOW
    assert [f.name for f in poller.due_feeds()] == ["Feed 1", "Feed 3"]
    assert poller._seconds_to_next() == 0.5
    summary = asyncio.run(poller.poll(poller.due_feeds()))
    assert summary.unchanged == 2

    assert main(["-c", str(config.path), "status", "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["Feed 0"]["next_poll"] == (NOW + timedelta(hours=24)).isoformat()  # stored back
    # polled at NOW: due again within a day (not in year 9999, not unset)
    next_poll = datetime.fromisoformat(rows["Feed 1"]["next_poll"])
    assert NOW <= next_poll <= NOW + timedelta(days=1)


def test_stored_titles_are_capped_and_texts_kept_whole(tmp_path, server):
    """A feed of 1 MB titles: the store keeps TITLE_MAX_CHARS of each title (the README's
    limit), mentions in the title's first part still count, and the text is not cut."""
    long_title = "Bukele " + "x" * 1_000_000
    entry = Entry(guid="g", link="https://x.example/a", title=long_title, text="y" * 50_000,
                  published=NOW)  # fmt: skip
    article = make_article(entry, "f", NOW)
    assert len(article.title) == TITLE_MAX_CHARS and article.title.endswith("x…")
    assert article.text == entry.text
    assert make_article(Entry("g", "https://x.example/a", "Short", "t", NOW), "f", NOW).title == (
        "Short"
    )

    server.feed("/a", rss((long_title, "http://a.example/1", NOW - timedelta(hours=1))))
    config = write_config(tmp_path, server, ["/a"])
    assert poll(config).new_mentions == 1
    stored = open_store(config.store).snapshot().query("SELECT title FROM {articles}")["title"]
    assert [len(t) for t in stored] == [TITLE_MAX_CHARS]
    assert stored[0].startswith("Bukele xxx")


def test_a_first_poll_groups_copies_of_weeks_old_stories_across_feeds(tmp_path, server):
    """Feeds are handled one after another, each newest first: feed 0's newest article must not
    evict the weeks-old story that feed 1 carries a copy of (stories.StoryAssigner.hold)."""
    wire = (
        "Lawmakers on Wednesday approved a reform that allows indefinite presidential "
        "re-election, a change long sought by Bukele. The reform passed 57-3 after a short "
        "debate. Opponents said the change dismantles the last checks on the president's "
        "power, and rights groups warned of one-man rule in the years ahead."
    )
    old, new = NOW - timedelta(days=20), NOW - timedelta(hours=1)

    def item(title: str, link: str, text: str, when: datetime) -> str:
        return (
            f"<item><title>{title}</title><link>{link}</link><description>{text}</description>"
            f"<pubDate>{format_datetime(when)}</pubDate></item>"
        )

    def feed(*items: str) -> bytes:
        return ('<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
                + "".join(items) + "</channel></rss>").encode()  # fmt: skip

    server.feed("/a.xml", feed(
        item("Rains flood the capital", "https://a.example/new", "Heavy rain fell all day long "
             "over the capital and its suburbs, and rivers rose above their banks.", new),
        item("Congress approves indefinite re-election", "https://a.example/old", wire, old),
    ))  # fmt: skip
    server.feed("/b.xml", feed(
        item("Bukele allies clear the way", "https://b.example/copy",
             "SAN SALVADOR (AP) -- " + wire + " Copyright 2026 AP.", old + timedelta(hours=2)),
    ))  # fmt: skip
    config = write_config(tmp_path, server, ["/a.xml", "/b.xml"])
    poll(config)  # in either order of the two feeds, one of them loses without the hold
    snap = open_store(config.store).snapshot()
    rows = snap.query(
        "SELECT a.url, s.story FROM {articles} a JOIN {stories} s ON s.article_id = a.id"
    )
    story = dict(zip(rows["url"], rows["story"], strict=True))
    assert story["https://a.example/old"] == story["https://b.example/copy"]
    assert story["https://a.example/new"] != story["https://a.example/old"]


def test_a_restarted_poller_groups_a_copy_with_a_story_stored_before(tmp_path, server):
    """The story index is filled from the store when a new article first needs it: a copy met
    after a restart joins the story stored by the earlier run; a pass with nothing new leaves
    the index empty (it never pays for it)."""
    wire = (
        "The prison authority said on Tuesday that it would move four hundred inmates to a new "
        "wing of CECOT next month, citing overcrowding in older facilities. Families said "
        "they had not been told where their relatives would be held, and lawyers asked for "
        "visits to resume before the transfer."
    )
    when = NOW - timedelta(hours=5)

    def feed(title: str, link: str, text: str, at: datetime) -> bytes:
        return (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item>'
            f"<title>{title}</title><link>{link}</link><description>{text}</description>"
            f"<pubDate>{format_datetime(at)}</pubDate></item></channel></rss>"
        ).encode()

    server.feed("/a.xml", feed("Inmates to be moved", "https://a.example/1", wire, when))
    server.feed("/b.xml", b"<rss version='2.0'><channel><title>B</title></channel></rss>")
    config = write_config(tmp_path, server, ["/a.xml", "/b.xml"])
    poll(config)
    poller = Poller(config)  # a restart; nothing new: the index stays empty
    asyncio.run(poller.poll_once())
    assert len(poller.enricher.stories) == 0
    copy = "SAN SALVADOR (AP) -- " + wire
    later = when + timedelta(hours=1)
    server.feed("/b.xml", feed("Prison transfer announced", "https://b.example/9", copy, later))
    poll(config)  # another restart, and a copy
    rows = (
        open_store(config.store)
        .snapshot()
        .query("SELECT a.url, s.story FROM {articles} a JOIN {stories} s ON s.article_id = a.id")
    )
    story = dict(zip(rows["url"], rows["story"], strict=True))
    assert story["https://b.example/9"] == story["https://a.example/1"]
