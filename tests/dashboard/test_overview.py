"""The Overview page, headless: its numbers equal the command line's and the queries'."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor import queries
from monitor.config import load_config
from monitor.store import open_store
from tests.dashboard.helpers import (
    NOW,
    captions,
    cli_json,
    days_ago,
    overview_numbers,
)


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
    snap = open_store(load_config(store_config).store).snapshot()
    start = datetime.fromisoformat(d0)
    end = datetime.fromisoformat(d1) + timedelta(days=1)
    f = queries.Filters(start=start, end=end, entities=("LexCorp", "Metropolis"))
    want = queries.overview(snap, f).set_index("entity")
    for row in df.itertuples():
        assert row.Mentions == want.loc[row.Entity, "mentions"]
        assert row.Previous == want.loc[row.Entity, "prev_mentions"]


def test_kind_and_tag_filters_equal_the_queries(app, store_config: Path) -> None:
    at = app(range="all", kind="person", tag="local")
    snap = open_store(load_config(store_config).store).snapshot()
    f = queries.Filters(
        entities=("Nayib Bukele", "Lex Luthor"), feeds=queries.feeds_for_tags(snap, ["local"])
    )
    want = queries.mention_counts(snap, f)
    assert set(at.dataframe[0].value["Entity"]) == {"Nayib Bukele", "Lex Luthor"}
    assert overview_numbers(at) == {
        r.entity: (r.mentions, r.articles) for r in want.itertuples() if r.mentions
    }


def test_all_time_has_no_previous_range(app) -> None:
    """Range "all" has nothing before it: no Change or Previous column, no caption naming a
    previous period."""
    at = app(range="all")
    assert {"Change", "Previous"}.isdisjoint(at.dataframe[0].value.columns)
    assert "previous" not in captions(at).lower()


def test_previous_range_says_it_counts_mentions(app) -> None:
    at = app(range="7d")
    df = at.dataframe[0].value
    assert {"Change", "Previous"} <= set(df.columns)
    label = at.dataframe[0].proto.columns  # the column config, as JSON
    assert "Mentions, previous range" in label
    start = (NOW - timedelta(days=13)).strftime("%-d %b %Y")
    assert f"compares mentions with the previous 7 days ({start} –" in captions(at)


def test_overview_stories_equal_cli(app, store_config: Path, capsys) -> None:
    at = app(range="all")
    df = at.dataframe[0].value.set_index("Entity")
    rows = cli_json(store_config, capsys, "mentions")
    assert {r["entity"]: r["stories"] for r in rows} == df["Stories"].to_dict()
    assert (df["Stories"] < df["Articles"]).any()  # the wire story's copies count once


def test_overview_stories_change_against_the_previous_range(app, store_config: Path) -> None:
    at = app(range="7d")
    df = at.dataframe[0].value.set_index("Entity")
    snap = open_store(load_config(store_config).store).snapshot()
    end = datetime.combine(NOW.date(), datetime.min.time()) + timedelta(days=1)
    want = queries.overview(snap, queries.Filters(start=end - timedelta(days=7), end=end))
    want = want.set_index("entity")
    for entity, row in df.iterrows():
        assert row["Stories"] == want.loc[entity, "stories"]
        assert row["Stories change"] == pytest.approx(want.loc[entity, "stories_change"] * 100)
    assert df["Stories change"].notna().all()
