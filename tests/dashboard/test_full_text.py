"""Full text in the dashboard, headless: each article card says where its text came from (and
why a page was not used), the Feeds page shows each feed's share of articles read in full and
what reading its pages gave, and the articles CSV carries `text_source`."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest

from monitor import queries
from monitor.config import load_config
from monitor.store import Store
from tests.dashboard.helpers import NOW, card_html, run_app
from tests.dashboard_store import FEEDS, build_store


@pytest.fixture(scope="module")
def full_text_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small store whose first feed reads pages: one page read, one refused, one waiting."""
    config = build_store(tmp_path_factory.mktemp("full-text"), NOW, days=2, per_day=6)
    store = Store(load_config(config).store)
    snap = store.snapshot()
    feed = FEEDS[0][1]
    rows = snap.query(
        """SELECT a.id, a.url, a.title, a.published FROM {articles} a
        JOIN {sources} s ON s.article_id = a.id WHERE s.feed = ? ORDER BY a.published DESC""",
        [feed],
    ).to_dict("records")
    writer = store.writer()
    for row, status in zip(rows[:3], ("ok", "robots", "pending"), strict=True):
        writer.add_page(
            {
                "article_id": row["id"],
                "url": row["url"],
                "published": row["published"],
                "attempt": 0 if status == "pending" else 1,
                "status": status,
                "time": row["published"],
                "next_try": row["published"] if status == "pending" else None,
                "http_status": 200,
                "bytes": 100,
                "error": "",
                "text": "Page text naming Bukele twice: Bukele." if status == "ok" else None,
            }
        )
        if status == "ok":
            writer.recount_article(row["id"], row["published"], {"Nayib Bukele": 2})
    state = snap.feeds[feed]
    state.full_text = True
    writer.set_feed(state)
    writer.commit()
    return config


def cards(at) -> dict[str, str]:
    """Card HTML by the title shown."""
    out = {}
    for card in card_html(at).split('class="mm-card"')[1:]:
        title = re.search(r'<div class="mm-title">(.*?)</div>', card)
        assert title
        out[html.unescape(re.sub(r"<[^>]+>", "", title.group(1)))] = card
    return out


def test_cards_say_where_the_text_came_from(
    full_text_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_CONFIG", str(full_text_config))
    at = run_app(view="articles", range="all", scope="all articles", f=FEEDS[0][0])
    shown = cards(at)
    snap = Store(load_config(full_text_config).store).snapshot()
    page = queries.articles(snap, queries.Filters(feeds=(FEEDS[0][1],)), limit=3)
    pairs = zip(page["text_source"], page["page_status"], strict=True)
    sources = dict(zip(page["title"], pairs, strict=True))
    assert sorted(sources.values(), key=str) == sorted(
        [("page", "ok"), ("feed", "robots"), ("feed", "waiting")], key=str
    )
    labels = {
        ("page", "ok"): "text from the page",
        ("feed", "robots"): "text from the feed (page refused by robots.txt)",
        ("feed", "waiting"): "text from the feed (page not read yet)",
    }
    for title, source in sources.items():
        assert f'<span class="mm-src">{html.escape(labels[source])}</span>' in shown[title]
    read = next(t for t, s in sources.items() if s[0] == "page")
    assert "Page text naming" in shown[read]  # the snippet is of the text that was counted
    others = [c for t, c in shown.items() if t not in sources]
    assert others and all("text from the feed</span>" in c for c in others)  # never tried


def test_feeds_page_shows_the_share_read_in_full(
    full_text_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_CONFIG", str(full_text_config))
    at = run_app(view="feeds")
    table = at.dataframe[0].value
    by_name = dict(zip(table["name"], table["read_in_full"], strict=True))
    snap = Store(load_config(full_text_config).store).snapshot()
    articles = snap.feeds[FEEDS[0][1]].articles
    assert by_name[FEEDS[0][0]] == pytest.approx(1 / articles)
    assert all(pd.isna(by_name[name]) for name, _, _ in FEEDS[1:])  # they read no pages
    pages = at.dataframe[1].value
    (row,) = pages.to_dict("records")
    assert row["name"] == FEEDS[0][0]
    assert (row["ok"], row["robots"], row["waiting"], row["short"]) == (1, 1, 1, 0)
    assert any("Full text" in m.value for m in at.markdown)
