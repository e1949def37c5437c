"""The frame every page shares, headless: each view from a link, the header, garbage links and
their notices, the empty-store and broken-config pages, and new data on the next run.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from monitor import queries
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.models import Article
from monitor.store import Store, article_key
from tests.dashboard.helpers import (
    APP,
    NOW,
    VIEWS,
    cli_json,
    days_ago,
    notices,
    overview_numbers,
    widget,
)
from tests.dashboard_store import FEEDS, build_store, feeds_yaml


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


def test_hostile_entity_in_a_link_is_not_markup(app) -> None:
    at = app(e="<img src=x onerror=alert(1)>")
    assert "not watched" in notices(at)
    assert not [h for h in at.get("html") if "onerror" in h.proto.body]


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
