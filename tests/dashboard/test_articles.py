"""The Articles page, headless: the list equals `monitor articles`, paging and search in the URL,
and a hostile article shown as text.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

from monitor import queries
from monitor.config import load_config
from monitor.store import Store
from monitor.text import collapse_ws
from tests.dashboard.helpers import (
    card_html,
    cli_json,
    days_ago,
    notices,
)
from tests.dashboard_store import HOSTILE_TITLE


def test_page_past_the_end_shows_the_last(app) -> None:
    at = app(view="articles", range="all", page="999")
    assert "showing the last" in notices(at)
    assert "page 5 of 5" in " ".join(m.value for m in at.markdown)  # 241 articles / 50


def test_articles_equal_cli(app, store_config: Path, capsys) -> None:
    d0, d1 = days_ago(10), days_ago(0)
    at = app(view="articles", range="custom", e="Lex Luthor", **{"from": d0, "to": d1})
    rows = cli_json(
        store_config, capsys, "articles", "--entity", "Lex Luthor", "--since", d0, "--until", d1,
        "--limit", "50",
    )  # fmt: skip
    titles = re.findall(r'<div class="mm-title">(.*?)</div>', card_html(at))
    shown = [html.unescape(re.sub(r"<[^>]+>", "", t)) for t in titles]
    assert shown == [collapse_ws(r["title"]) for r in rows]
    snap = Store(load_config(store_config).store).snapshot()
    f = queries.Filters(
        start=datetime.fromisoformat(d0),
        end=datetime.fromisoformat(d1) + timedelta(days=1),
        entities=("Lex Luthor",),
    )
    total = queries.count_articles(snap, f)
    assert any(m.value.startswith(f"**{total:,}** articles") for m in at.markdown)


def test_articles_are_paged_in_the_url(app) -> None:
    first = card_html(app(view="articles", range="all"))
    second = card_html(app(view="articles", range="all", page="2"))
    assert first != second
    assert second.count('class="mm-card"') == 50


def test_search_narrows_the_articles(app) -> None:
    at = app(view="articles", range="all", q="budget")
    cards = card_html(at)
    assert cards.count('class="mm-card"') > 0
    assert '<mark class="mm-q">budget</mark>' in cards


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_hostile_article_shows_as_text(app) -> None:
    at = app(view="articles", range="all", feed="Hostile Wire")
    cards = card_html(at)
    assert html.escape(HOSTILE_TITLE.split(" Bukele")[0]) in cards  # the <script> as text
    parser = TagCollector()
    parser.feed(cards)
    assert {tag for tag, _ in parser.tags} <= {"style", "div", "span", "mark", "a"}
    for tag, attrs in parser.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        if tag == "a":
            assert (attrs.get("href") or "").startswith(("http://", "https://"))
    assert "<a " not in cards  # its URL is javascript:, so the title is not a link
