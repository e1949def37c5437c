"""The dashboard, headless: each view from a link's query parameters, garbage links, the numbers
against the command line's, the empty-store and broken-config pages, and feed text shown as text.

Runs dashboard.py with `streamlit.testing.v1.AppTest` against a small store written by
`tests/dashboard_store.py` (and the demo store that the
real poller filled: conftest's `demo_config`).
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from monitor import cli, queries
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.models import Article
from monitor.store import Store, article_key
from monitor.text import collapse_ws
from tests.dashboard_store import FEEDS, HOSTILE_TITLE, build_store, feeds_yaml

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard.py")
VIEWS = ("overview", "timeline", "compare", "co-mentions", "sources", "articles", "feeds")
NOW = datetime.now(UTC)
DEGRADED_FILL = "rgba(120, 120, 120, 0.16)"  # as in dashboard.py


@pytest.fixture(scope="module")
def store_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("dash") / "world", NOW)


@pytest.fixture
def app(store_config: Path, monkeypatch: pytest.MonkeyPatch):
    """Run the dashboard on the test store with the given query parameters."""
    monkeypatch.setenv("MONITOR_CONFIG", str(store_config))

    def run(**params: str | list[str]) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return run


def cli_json(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert cli.main(["-c", str(config), *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def days_ago(n: int) -> str:
    return (NOW - timedelta(days=n)).date().isoformat()


def traces(at: AppTest, index: int = 0) -> list[dict[str, Any]]:
    spec = json.loads(at.get("plotly_chart")[index].proto.spec)
    return spec["data"]


def widget(at: AppTest, kind: str, key: str) -> Any:
    return next(w for w in at.get(kind) if w.key == key)


def notices(at: AppTest) -> str:
    """The text of the info and warning boxes, Markdown escapes removed."""
    text = "\n".join(str(x.value) for x in [*at.info, *at.warning])
    return re.sub(r"\\(.)", r"\1", text)


def card_html(at: AppTest) -> str:
    """The article cards (the st.html element that holds them)."""
    bodies = [h.proto.body for h in at.get("html") if "mm-list" in h.proto.body]
    assert bodies, "no article list on the page"
    return bodies[0]


# --------------------------------------------------------------------------------------------
# Every view renders from a link


@pytest.mark.parametrize("view", VIEWS)
def test_each_view_renders_from_a_link(app, view: str) -> None:
    at = app(view=view, range="all", e=["Nayib Bukele", "Lex Luthor"])
    assert not at.error
    headings = [h.value for h in at.subheader]
    assert any(view.replace("-", "").lower() in h.replace("-", "").lower() for h in headings)
    assert at.multiselect(key="e").value == ["Nayib Bukele", "Lex Luthor"]
    assert not notices(at).strip() or view == "feeds"  # feeds shows the moved feed


def test_views_render_on_the_demo_store(demo_config: Path, monkeypatch) -> None:
    """The store the real poller filled (conftest's `demo_config`), every view."""
    config = demo_config
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    for view in VIEWS:
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["view"] = view
        at.query_params["range"] = "all"
        at.run()
        assert not at.exception, (view, [e.value for e in at.exception])
        assert not at.error, view


def test_header_line(app, store_config: Path) -> None:
    at = app()
    snap = Store(load_config(store_config).store).snapshot()
    header = at.markdown[0].value
    as_of = queries.data_as_of(snap)
    assert header.startswith(f"Data as of **{as_of:%-d %b %Y %H:%M} UTC**")
    assert f"**{snap.rows('articles'):,}** articles from **{len(FEEDS)}** feeds" in header
    assert "counts since" in header


# --------------------------------------------------------------------------------------------
# Garbage links: a notice and the nearest valid view, never a traceback


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"e": ["Nobody", "LexCorp"]}, "not watched: “Nobody”"),
        ({"e": ["lexcorp"]}, "(did you mean “LexCorp”?)"),
        ({"range": "custom", "from": "2026-13-45"}, "start date “2026-13-45” is not a date"),
        ({"range": "custom", "to": "yesterday"}, "end date “yesterday” is not a date"),
        ({"view": "nope"}, "view “nope” that does not exist"),
        ({"view": "articles", "page": "-3"}, "page “-3” does not exist"),
        ({"view": "articles", "page": "many"}, "page “many” does not exist"),
        ({"view": "timeline", "by": "year"}, "granularity “year”"),
        ({"view": "timeline", "roll": "-1"}, "rolling window “-1”"),
        ({"view": "timeline", "norm": "maybe"}, "“norm=maybe”"),
        ({"view": "timeline", "measure": "vibes"}, "measure “vibes”"),
        ({"range": "forever"}, "range “forever”"),
        ({"kind": "alien"}, "kinds no watched entity has: “alien”"),
        ({"kind": "topic"}, "kinds no watched entity has: “topic”"),
        ({"feed": "No Such Feed"}, "feeds that are not in this store"),
        ({"tag": "sports"}, "tags no feed carries"),
        ({"utm_source": "mail"}, "does not use: “utm_source”"),
        ({"e": "<script>alert(1)</script>"}, "not watched"),
    ],
)
def test_garbage_link_shows_a_notice(app, params: dict[str, Any], expected: str) -> None:
    at = app(**params)
    assert expected in notices(at)
    assert not at.error


def test_garbage_link_keeps_what_is_valid(app) -> None:
    at = app(view="timeline", e=["Nobody", "LexCorp"], by="year", range="7d")
    assert at.multiselect(key="e").value == ["LexCorp"]
    assert widget(at, "button_group", "range").value == "7d"
    assert at.selectbox(key="by").value == "day"  # the default for 7 days
    assert [t["name"] for t in traces(at) if t["name"] != "Ingestion degraded"] == ["LexCorp"]


def test_swapped_dates_are_said_and_swapped(app) -> None:
    at = app(range="custom", **{"from": days_ago(2), "to": days_ago(9)})
    assert "start date is after the end date" in notices(at)
    caption = " ".join(c.value for c in at.sidebar.caption)
    start = (NOW - timedelta(days=9)).strftime("%-d %b %Y")
    assert start in caption


def test_dates_alone_mean_a_custom_range(app, store_config: Path, capsys) -> None:
    d0, d1 = days_ago(9), days_ago(4)
    at = app(**{"from": d0, "to": d1})
    assert widget(at, "button_group", "range").value == "custom"
    assert not notices(at)
    rows = cli_json(store_config, capsys, "mentions", "--since", d0, "--until", d1)
    assert overview_numbers(at) == {r["entity"]: (r["mentions"], r["articles"]) for r in rows}


def test_dates_with_a_relative_range_are_said_to_be_ignored(app) -> None:
    at = app(range="7d", **{"from": days_ago(9)})
    assert "apply to a custom range only" in notices(at)
    assert widget(at, "button_group", "range").value == "7d"


def test_last_24_hours_is_drawn_by_hour(app) -> None:
    at = app(view="timeline", range="24h", e="Nayib Bukele")
    assert at.selectbox(key="by").value == "hour"
    (trace,) = [t for t in traces(at) if t["name"] == "Nayib Bukele"]
    assert len(trace["x"]) == 24


def test_page_past_the_end_shows_the_last(app) -> None:
    at = app(view="articles", range="all", page="999")
    assert "showing the last" in notices(at)
    assert "page 5 of 5" in " ".join(m.value for m in at.markdown)  # 241 articles / 50


# --------------------------------------------------------------------------------------------
# The numbers equal the command line's for the same filters


def overview_numbers(at: AppTest) -> dict[str, tuple[int, int]]:
    df = at.dataframe[0].value
    return {
        row.Entity: (int(row.Mentions), int(row.Articles))
        for row in df.itertuples()
        if row.Mentions > 0
    }


def test_overview_equals_cli_for_all_time(app, store_config: Path, capsys) -> None:
    at = app(range="all")
    rows = cli_json(store_config, capsys, "mentions")
    assert overview_numbers(at) == {r["entity"]: (r["mentions"], r["articles"]) for r in rows}


def test_overview_equals_cli_for_custom_dates(app, store_config: Path, capsys) -> None:
    d0, d1 = days_ago(12), days_ago(3)
    at = app(range="custom", **{"from": d0, "to": d1})
    rows = cli_json(store_config, capsys, "mentions", "--since", d0, "--until", d1)
    assert rows, "the range should hold mentions"
    assert overview_numbers(at) == {r["entity"]: (r["mentions"], r["articles"]) for r in rows}


def test_overview_with_entities_and_previous_range(app, store_config: Path) -> None:
    d0, d1 = days_ago(7), days_ago(1)
    at = app(range="custom", e=["LexCorp", "Metropolis"], **{"from": d0, "to": d1})
    df = at.dataframe[0].value
    assert set(df["Entity"]) == {"LexCorp", "Metropolis"}
    snap = Store(load_config(store_config).store).snapshot()
    start = datetime.fromisoformat(d0)
    end = datetime.fromisoformat(d1) + timedelta(days=1)
    f = queries.Filters(start=start, end=end, entities=("LexCorp", "Metropolis"))
    want = queries.overview(snap, f).set_index("entity")
    for row in df.itertuples():
        assert row.Mentions == want.loc[row.Entity, "mentions"]
        assert row.Previous == want.loc[row.Entity, "prev_mentions"]


def test_kind_and_tag_filters_equal_the_queries(app, store_config: Path) -> None:
    at = app(range="all", kind="person", tag="local")
    snap = Store(load_config(store_config).store).snapshot()
    f = queries.Filters(
        entities=("Nayib Bukele", "Lex Luthor"), feeds=queries.feeds_for_tags(snap, ["local"])
    )
    want = queries.mention_counts(snap, f)
    assert set(at.dataframe[0].value["Entity"]) == {"Nayib Bukele", "Lex Luthor"}
    assert overview_numbers(at) == {
        r.entity: (r.mentions, r.articles) for r in want.itertuples() if r.mentions
    }


def test_sources_table_equals_top_feeds(app, store_config: Path) -> None:
    at = app(view="sources", range="all")
    snap = Store(load_config(store_config).store).snapshot()
    want = queries.top_feeds(snap, queries.Filters())
    shown = at.dataframe[0].value
    assert shown["Articles"].tolist() == want["articles"].tolist()
    assert shown["Feed URL"].tolist() == want["feed"].tolist()


def test_timeline_trace_equals_cli(app, store_config: Path, capsys) -> None:
    d0, d1 = days_ago(14), days_ago(2)
    at = app(view="timeline", range="custom", e="Nayib Bukele", by="day", **{"from": d0, "to": d1})
    (trace,) = [t for t in traces(at) if t["name"] == "Nayib Bukele"]
    assert len(trace["x"]) == 13  # every day of the range, zero-filled
    drawn = {x[:10]: y for x, y in zip(trace["x"], trace["y"], strict=True) if y}
    rows = cli_json(
        store_config, capsys, "mentions", "--by", "day", "--entity", "Nayib Bukele",
        "--since", d0, "--until", d1,
    )  # fmt: skip
    assert drawn == {r["period"]: r["mentions"] for r in rows}


def test_timeline_normalized_is_the_share(app, store_config: Path) -> None:
    d0, d1 = days_ago(10), days_ago(1)
    at = app(
        view="timeline", range="custom", e="LexCorp", by="day", norm="true",
        **{"from": d0, "to": d1},
    )  # fmt: skip
    (trace,) = [t for t in traces(at) if t["name"] == "LexCorp"]
    snap = Store(load_config(store_config).store).snapshot()
    f = queries.Filters(
        start=datetime.fromisoformat(d0),
        end=datetime.fromisoformat(d1) + timedelta(days=1),
        entities=("LexCorp",),
    )
    want = queries.timeline(snap, f, "day")["share"].tolist()
    assert trace["y"] == pytest.approx(want)


def test_timeline_shades_degraded_ingestion(app) -> None:
    at = app(view="timeline", range="30d", e="LexCorp")
    names = [t["name"] for t in traces(at)]
    assert "Ingestion degraded" in names
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    shapes = [s for s in spec["layout"].get("shapes", []) if s["fillcolor"] == DEGRADED_FILL]
    assert len(shapes) == 1  # the one day on which most feeds failed
    bad_day = (NOW - timedelta(days=5)).date().isoformat()
    assert shapes[0]["x0"].startswith(bad_day)
    assert any("failed to poll" in c.value for c in at.caption)


def test_compare_donut_totals_equal_cli(app, store_config: Path, capsys) -> None:
    at = app(view="compare", range="all", e=["Nayib Bukele", "LexCorp"])
    donut = next(t for t in traces(at, 1) if t["type"] == "pie")
    rows = cli_json(
        store_config, capsys, "mentions", "--entity", "Nayib Bukele", "--entity", "LexCorp"
    )
    assert dict(zip(donut["labels"], donut["values"], strict=True)) == {
        r["entity"]: r["mentions"] for r in rows
    }
    area = traces(at, 0)
    assert {t["name"] for t in area} == {"Nayib Bukele", "LexCorp"}
    assert all(t.get("stackgroup") == "share" for t in area)


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


def test_feeds_view_lists_feed_health(app) -> None:
    at = app(view="feeds")
    df = at.dataframe[0].value
    assert set(df["name"]) == {name for name, _, _ in FEEDS}
    moved = df.set_index("name").loc["Smallville Ledger", "moved_to"]
    assert moved.endswith("ledger-new.xml")
    assert "moved permanently" in notices(at)


# --------------------------------------------------------------------------------------------
# Text from feeds is shown as text


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


def test_hostile_entity_in_a_link_is_not_markup(app) -> None:
    at = app(e="<img src=x onerror=alert(1)>")
    assert "not watched" in notices(at)
    assert not [h for h in at.get("html") if "onerror" in h.proto.body]


# --------------------------------------------------------------------------------------------
# Edges: empty store, broken config, new data


def test_empty_store_page(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(feeds_yaml().replace("store: data", "store: nothing-yet"))
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("No articles yet" in i.value for i in at.info)
    text = " ".join(m.value for m in at.markdown)
    assert "monitor poll" in text and "monitor demo" in text


def test_broken_config_page(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        feeds_yaml()
        .replace("kind: person", "kind: persn", 1)
        .replace("tags: [national]", "tags: [national]\n    every: often", 1)
    )
    with pytest.raises(ConfigError) as info:
        load_config(config)
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(info.value.issues) >= 2
    for issue in info.value.issues:
        assert str(issue) in errors
    assert not at.tabs  # stopped before the views


def test_missing_config_page(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MONITOR_CONFIG", str(tmp_path / "nowhere.yaml"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("file not found" in e.value for e in at.error)


def test_new_data_shows_on_the_next_run(tmp_path: Path, monkeypatch) -> None:
    config = build_store(tmp_path / "live", NOW, days=3, per_day=4)
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["range"] = "all"
    at.run()
    before = overview_numbers(at)["LexCorp"]
    store = Store(load_config(config).store)
    writer = store.writer()
    t = NOW.replace(tzinfo=None) - timedelta(minutes=5)
    article = Article(
        id=article_key("test", "late"),
        url="https://news.example/late",
        title="LexCorp again",
        text="LexCorp and LexCorp.",
        published=t,
        first_seen=t,
        author="",
        feed=FEEDS[0][1],
    )
    writer.add_article(article, FEEDS[0][1], t)
    writer.add_mentions(article, {"LexCorp": 3})
    writer.commit()
    at.run()
    assert overview_numbers(at)["LexCorp"] == (before[0] + 3, before[1] + 1)
