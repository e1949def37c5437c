"""An entry's identity: what its feed tells apart is never merged; the same article carried by
two feeds is stored once; an entry seen again is not stored twice; stores written before the
`entry` column keep working (issue 9, first item; README "How counting works")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pyarrow.parquet as pq
import pytest

from monitor import queries
from monitor import store as store_mod
from monitor.config import load_config
from monitor.models import Entry
from monitor.poll import Poller, entry_key, make_article
from monitor.store import Store
from tests.feedserver import FeedServer

NOW = datetime.now(UTC).replace(microsecond=0)


def item(
    title: str,
    link: str | None = None,
    guid: str | None = None,
    published: datetime | None = None,
    text: str = "Story text.",
) -> str:
    parts = [f"<title>{title}</title>"]
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{guid}</guid>')
    if published is not None:
        parts.append(f"<pubDate>{format_datetime(published)}</pubDate>")
    parts.append(f"<description>{text}</description>")
    return "<item>" + "".join(parts) + "</item>"


def rss(*items: str, home: str = "https://site.example/") -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        f"<link>{home}</link>" + "".join(items) + "</channel></rss>"
    ).encode()


@pytest.fixture
def server():
    with FeedServer() as s:
        yield s


def config_for(tmp_path, server, paths):
    # no page is read: the entries link to invented hosts (tests/test_pages.py reads pages)
    lines = ["store: data", "poll:", "  every: 15m", "  timeout: 2s", "  full_text: false"]
    lines.append("feeds:")
    for i, path in enumerate(paths):
        lines += [f"  - name: Feed {i}", f"    url: {server.url(path)}"]
    lines += ["watch:", "  - name: CECOT", "    kind: topic"]
    (tmp_path / "feeds.yaml").write_text("\n".join(lines) + "\n")
    return load_config(tmp_path / "feeds.yaml")


def poll(config):
    return asyncio.run(Poller(config).poll_once())


def stored(config):
    snap = Store(config.store).snapshot()
    return snap, snap.query("SELECT id, url, title FROM {articles} ORDER BY title")


def comment_feed(comments: list[int]) -> bytes:
    page = "https://blog.example/2024/03/cecot/"
    return rss(
        *(
            item(
                f"CECOT comment {c}",
                f"{page}#comment-{c}",
                f"https://blog.example/?p=5512#comment-{c}",
                NOW - timedelta(minutes=210400 - c),
            )
            for c in comments
        ),
        home=page,
    )


def test_comment_feed_keeps_every_comment(tmp_path, server):
    """Comments differ only by the fragment of their link, each with its own guid."""
    comments = [210335, 210324, 210301, 210288, 210270, 210262, 210250, 210241, 210233, 210220]
    server.feed("/comments", comment_feed(comments))
    config = config_for(tmp_path, server, ["/comments"])
    assert poll(config).new_articles == 10
    snap, df = stored(config)
    assert len(df) == 10
    # each keeps its own link, fragment included: the link opens the comment
    page = "https://blog.example/2024/03/cecot/"
    assert set(df["url"]) == {f"{page}#comment-{c}" for c in comments}
    counts = queries.mention_counts(snap, queries.Filters())
    assert counts.set_index("entity").loc["CECOT", "articles"] == 10
    # a new comment arrives, the oldest drops off: one new article, nothing duplicated
    server.feed("/comments", comment_feed([210350, *comments[:-1]]))
    assert poll(config).new_articles == 1
    assert Store(config.store).snapshot().rows("articles") == 11


def test_one_page_site_without_guids_keeps_every_entry(tmp_path, server):
    anchors = ["8086-vm", "adminer", "bitwarden", "caddy", "dokku", "etherpad"]
    body = rss(
        *(item(f"CECOT tool {a}", f"https://awesome.example/awesome#{a}") for a in anchors),
        home="https://awesome.example/",
    )
    server.feed("/awesome", body)
    config = config_for(tmp_path, server, ["/awesome"])
    poll(config)
    _, df = stored(config)
    assert sorted(df["url"]) == sorted(f"https://awesome.example/awesome#{a}" for a in anchors)
    # the same body again (a changed byte defeats the unchanged-body shortcut): no duplicates
    server.feed("/awesome", body + b"\n")
    assert poll(config).new_articles == 0
    assert Store(config.store).snapshot().rows("articles") == len(anchors)


def test_same_article_in_two_feeds_is_stored_once_with_both_feeds(tmp_path, server):
    server.feed(
        "/one",
        rss(item("CECOT story", "https://news.example/cecot?utm_source=rss", "one-17", NOW)),
    )
    server.feed(
        "/two",
        rss(
            item("CECOT story", "https://NEWS.example/cecot#top", "wire-88", NOW),
            item("Other", "https://news.example/other", "wire-89", NOW),
        ),
    )
    config = config_for(tmp_path, server, ["/one", "/two"])
    poll(config)
    snap, df = stored(config)
    assert len(df) == 2
    shared = df[df["title"] == "CECOT story"]
    assert len(shared) == 1
    feeds = queries.article_feeds(snap, shared["id"].tolist())
    assert sorted(feeds["feed"]) == [server.url("/one"), server.url("/two")]
    assert snap.rows("sources") == 3


def test_items_that_all_link_to_the_home_page_are_kept_apart(tmp_path, server):
    """Each item has its own guid and the site's home page as link; a second feed of the same
    site does the same: nothing is merged, within the feed or across the two."""
    home = "https://homepage.example/"
    server.feed(
        "/a",
        rss(
            *(
                item(f"CECOT update {i}", home, f"a-{i}", NOW - timedelta(hours=i))
                for i in range(5)
            ),
            home=home,
        ),
    )
    server.feed(
        "/b",
        rss(
            *(item(f"CECOT brief {i}", home, f"b-{i}", NOW - timedelta(hours=i)) for i in range(3)),
            home=home,
        ),
    )
    config = config_for(tmp_path, server, ["/a", "/b"])
    assert poll(config).new_articles == 8
    _, df = stored(config)
    assert len(df) == 8 and set(df["url"]) == {home}


def test_home_page_links_without_guids_are_told_apart_by_title_and_text():
    home = "https://homepage.example/"
    one = Entry(guid="", link=home, title="Update 1", text="a", published=None)
    two = Entry(guid="", link=home, title="Update 2", text="b", published=None)
    assert entry_key(one, "f", home=home) != entry_key(two, "f", home=home)
    assert make_article(one, "f", NOW, home=home).id != make_article(two, "f", NOW, home=home).id
    # elsewhere the link is the entry's identity, fragment included
    a = Entry(guid="", link="https://x.example/p#a", title="same", text="same", published=None)
    b = Entry(guid="", link="https://x.example/p#b", title="same", text="same", published=None)
    assert entry_key(a, "f") != entry_key(b, "f")
    assert make_article(a, "f", NOW).id == make_article(b, "f", NOW).id  # one canonical URL


def test_entry_seen_again_with_a_changed_link_is_not_stored_twice(tmp_path, server):
    server.feed("/a", rss(item("CECOT story", "https://news.example/draft-slug", "g-1", NOW)))
    config = config_for(tmp_path, server, ["/a"])
    assert poll(config).new_articles == 1
    server.feed("/a", rss(item("CECOT story", "https://news.example/final-slug", "g-1", NOW)))
    summary = poll(config)
    assert (summary.ok, summary.new_articles) == (1, 0)
    _, df = stored(config)
    assert df["url"].tolist() == ["https://news.example/draft-slug"]


def test_entries_without_any_url_are_kept_and_deduplicated_within_their_feed(tmp_path, server):
    body = rss(
        item("CECOT bulletin", guid="b-1", published=NOW),
        item("CECOT bulletin", guid="b-2", published=NOW),  # same title, its own guid
        item("CECOT note", text="first"),
        item("CECOT note", text="second"),  # no guid: title + text tell them apart
    )
    server.feed("/a", body)
    server.feed("/b", body)  # another feed carrying the same: no borrowed identity
    config = config_for(tmp_path, server, ["/a", "/b"])
    assert poll(config).new_articles == 8
    server.feed("/a", body + b" ")
    assert poll(config).new_articles == 0


# Stores written before the `entry` column ---------------------------------------------------


def drop_entry_column(root):
    """Rewrite every sources file as an older version wrote it: without `entry`."""
    for path in (root / "sources").glob("*.parquet"):
        table = pq.read_table(path)
        pq.write_table(table.drop_columns(["entry"]), path)


def test_a_store_from_before_entry_keys_is_neither_duplicated_nor_merged(tmp_path, server):
    page = "https://blog.example/2024/03/cecot/"
    old = [
        item(f"CECOT comment {c}", f"{page}#comment-{c}", f"c-{c}", NOW - timedelta(hours=h))
        for c, h in ((3, 3), (2, 4), (1, 5))
    ]
    undated = item("CECOT undated", "https://blog.example/undated", "u-1")
    server.feed("/comments", rss(*old, undated, home=page))
    config = config_for(tmp_path, server, ["/comments"])
    # the old version: articles keyed by canonical URL only, so the comments were merged
    writer = Store(config.store).writer()
    first_seen = NOW - timedelta(hours=2)
    for body_item in (*old, undated):
        entry = _parse_one(body_item, page)
        writer.add_article(
            make_article(entry, server.url("/comments"), first_seen),
            server.url("/comments"),
            first_seen,
        )
    writer.commit()
    drop_entry_column(config.store)
    assert Store(config.store).snapshot().rows("articles") == 2

    # the new version polls the same feed, plus one comment posted after the upgrade
    new = item("CECOT comment 4", f"{page}#comment-4", "c-4", NOW - timedelta(minutes=5))
    server.feed("/comments", rss(new, *old, undated, home=page))
    summary = poll(config)
    snap, df = stored(config)
    titles = sorted(df["title"])
    # the dated comments stored before are not duplicated (they stay merged, as they were);
    # the new comment is an article of its own; the undated entry cannot be matched safely
    # and is stored again, once
    assert titles == ["CECOT comment 3", "CECOT comment 4", "CECOT undated", "CECOT undated"]
    assert summary.new_articles == 2
    # a third poll adds nothing, and readers cope with old and new sources files together
    server.feed("/comments", rss(new, *old, undated, home=page) + b" ")
    assert poll(config).new_articles == 0
    feeds = queries.article_feeds(snap, df["id"].tolist())
    assert set(feeds["feed"]) == {server.url("/comments")}
    flt = queries.Filters(feeds=(server.url("/comments"),))
    assert queries.count_articles(Store(config.store).snapshot(), flt) == 4


def test_compaction_merges_old_and_new_sources_files(tmp_path, monkeypatch):
    store = Store(tmp_path / "s")
    writer = store.writer()
    for n in range(3):
        e = Entry(guid=f"g{n}", link=f"https://x.example/{n}", title="t", text="x", published=NOW)
        writer.add_article(make_article(e, "f", NOW), "f", NOW, entry_key(e, "f"))
        writer.commit()
    drop_entry_column(store.root)
    monkeypatch.setattr(store_mod, "TIER_BASE", 2)
    writer = store.writer()
    e = Entry(guid="g9", link="https://x.example/9", title="t", text="x", published=NOW)
    writer.add_article(make_article(e, "f", NOW), "f", NOW, entry_key(e, "f"))
    snap = writer.commit()
    assert len(snap.files["sources"]) == 1  # compacted into one file
    table = pq.read_table(snap.root / snap.files["sources"][0].path)
    assert table.num_rows == 4 and table.column("entry").null_count == 3
    # a new writer knows every entry and article again
    again = store.writer()
    assert again.add_article(make_article(e, "f", NOW), "f", NOW, entry_key(e, "f")) is None


def _parse_one(body_item: str, home: str) -> Entry:
    from monitor.parse import parse_feed

    return parse_feed(rss(body_item, home=home), home).entries[0]
