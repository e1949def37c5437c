"""The Articles page, headless: the list equals `monitor articles --one-per-story` (and the
command it shows works as pasted), one card per story with its other copies and each entity's
tone, "all watched entities" means articles with a mention and "all articles" is offered,
paging and search in the URL, and a hostile article shown as text.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

from monitor import queries
from monitor.config import load_config
from monitor.text import collapse_ws
from tests.dashboard.helpers import (
    captions,
    card_html,
    cli_json,
    days_ago,
    markdown,
    notices,
    run_pasted,
    shown_command,
    snapshot,
    widget,
)
from tests.dashboard_store import HOSTILE_TITLE, WATCH


def shown_titles(at) -> list[str]:
    titles = re.findall(r'<div class="mm-title">(.*?)</div>', card_html(at))
    return [html.unescape(re.sub(r"<[^>]+>", "", t)) for t in titles]


def test_page_past_the_end_shows_the_last(app, store_config: Path) -> None:
    at = app(view="articles", range="all", page="999")
    snap = snapshot(store_config)
    n = queries.count_stories(snap, queries.Filters(entities=tuple(e.name for e in WATCH)))
    pages = -(-n // 50)
    there = "There is only one page" if pages == 1 else f"There are only {pages:,} pages"
    assert f"{there}; showing the last" in notices(at)
    assert f"{(pages - 1) * 50 + 1:,}–{n:,}" in markdown(at)


def test_page_past_the_only_page_says_so_in_good_english(app) -> None:
    at = app(view="articles", range="24h", entities="LexCorp", page="2")
    assert "There is only one page; showing the last." in notices(at)


def test_all_watched_entities_means_a_mention(app, store_config: Path) -> None:
    """Nothing chosen: the articles with at least one watched mention, not every article."""
    at = app(view="articles", range="all")
    snap = snapshot(store_config)
    f = queries.Filters(entities=tuple(e.name for e in WATCH))
    watched, stories = queries.count_articles(snap, f), queries.count_stories(snap, f)
    every = queries.count_articles(snap, queries.Filters())
    assert watched < every  # the store holds articles that mention nothing watched
    assert stories < watched  # and syndicated copies
    assert f"**{stories:,}** stories ({watched:,} articles) mentioning a watched" in markdown(at)
    cards = card_html(at).split('class="mm-card"')[1:]
    assert len(cards) == 50 and all('class="mm-chip"' in c for c in cards)
    assert widget(at, "button_group", "scope").value == "mentioning a watched entity"


def test_all_articles_is_offered_explicitly(app, store_config: Path) -> None:
    at = app(view="articles", range="all", scope="all articles")
    every = queries.count_articles(snapshot(store_config), queries.Filters())
    stories = queries.count_stories(snapshot(store_config), queries.Filters())
    assert f"**{stories:,}** stories ({every:,} articles), newest first" in markdown(at)
    unwatched = "Weather and sports"  # the store's articles that mention nothing watched
    at = app(view="articles", range="all", scope="all articles", q="Weather")
    assert any(t.startswith(unwatched) for t in shown_titles(at))
    at = app(view="articles", range="all", q="Weather")
    assert shown_titles(at)
    assert not any(t.startswith(unwatched) for t in shown_titles(at))


def test_the_page_number_is_shown_once(app) -> None:
    at = app(view="articles", range="all", page="2")
    page = widget(at, "number_input", "page")
    assert page.value == 2 and page.label.startswith("Page (of ")
    assert not re.search(r"page \d+ of", markdown(at), re.IGNORECASE)


def test_articles_equal_cli(app, store_config: Path, capsys) -> None:
    d0, d1 = days_ago(10), days_ago(0)
    at = app(view="articles", range="custom", e="Lex Luthor", **{"from": d0, "to": d1})
    rows = cli_json(
        store_config, capsys, "articles", "--entity", "Lex Luthor", "--since", d0, "--until", d1,
        "--limit", "50", "--one-per-story",
    )  # fmt: skip
    assert shown_titles(at) == [collapse_ws(r["title"]) for r in rows]
    snap = snapshot(store_config)
    f = queries.Filters(
        start=datetime.fromisoformat(d0),
        end=datetime.fromisoformat(d1) + timedelta(days=1),
        entities=("Lex Luthor",),
    )
    total, stories = queries.count_articles(snap, f), queries.count_stories(snap, f)
    assert stories < total  # the wire story's copies
    assert any(
        m.value.startswith(f"**{stories:,}** stories ({total:,} articles)") for m in at.markdown
    )


def test_the_terminal_command_works_as_pasted(app, tmp_path: Path) -> None:
    """Pasted in another folder, with no MONITOR_CONFIG: the same list (-c, full path)."""
    at = app(view="articles", range="7d", feed="Daily Planet")
    argv = shown_command(captions(at))
    assert argv[1:3] == ["-c", str(load_config(Path(argv[2])).path)]
    assert Path(argv[2]).is_absolute()
    assert "--entity" in argv  # "all watched entities", said as the CLI says it
    rows = run_pasted(argv, tmp_path)
    assert [collapse_ws(r["title"]) for r in rows] == shown_titles(at)


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


# --------------------------------------------------------------------------------------------
# Stories and tone on the cards (issue 13)


def cards_of(at) -> list[str]:
    return card_html(at).split('<div class="mm-card">')[1:]


def test_a_syndicated_story_is_one_card_with_its_copies(app, store_config: Path) -> None:
    at = app(view="articles", range="all", e="LexCorp")
    wire = [c for c in cards_of(at) if "LexCorp to buy Metropolis newspaper" in c]
    assert len(wire) == 1  # three copies, one card (the first copy's)
    card = wire[0]
    assert (
        "Also carried by 2 other articles: Gotham Gazette, Smallville Ledger "
        "(3 copies of this story in all)" in card
    )
    assert "<details" in card and "Luthor&#x27;s LexCorp buys the paper" in card
    assert 'href="https://wire-1.news.example/story"' in card
    assert 'href="https://wire-2.news.example/story"' in card
    titles = shown_titles(at)
    assert "Luthor's LexCorp buys the paper" not in titles  # a copy is not a card of its own
    carried = [c for c in cards_of(at) if "(the same article)" in c]
    assert carried  # an article two feeds carried under one URL says so too


def test_cards_show_each_entitys_tone(app, store_config: Path) -> None:
    at = app(view="articles", range="all", e="Nayib Bukele")
    page = queries.articles(
        snapshot(store_config), queries.Filters(entities=("Nayib Bukele",)), one_per_story=True
    )
    cards = cards_of(at)
    assert len(cards) == len(page) == 50
    for card, tones in zip(cards, page["tones"], strict=True):
        shown = re.findall(r'class="mm-tone"[^>]*>([^<]*)</span>', card)
        assert shown == [f"{v:+.2f}" for v in tones.values() if v is not None]
    assert 'title="tone: the mean score of the sentences naming it' in cards[0]


def test_the_copies_of_a_story_are_text() -> None:
    from monitor_app.cards import copies_html

    hostile = {
        "published": "2026-01-01 10:00",
        "feed_name": '<img src=x onerror="alert(1)">',
        "feeds": ["<b onmouseover=alert(2)>Feed</b>"],
        "title": "<script>alert(3)</script>",
        "url": "javascript:alert(4)",
    }
    out = copies_html({"copies": 2, "feed_name": "Mine", "carriers": ["<i>x</i>"]}, [hostile])
    parser = TagCollector()
    parser.feed(out)
    assert {tag for tag, _ in parser.tags} <= {"details", "summary", "ul", "li", "a"}
    assert not [t for t, _ in parser.tags if t == "a"]  # javascript: is not a link
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in out and "&lt;img src=x" in out
