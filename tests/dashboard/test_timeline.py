"""The Timeline page, headless: traces equal the command line's, normalized shares, hourly
ranges, degraded ingestion shaded, and a garbage link keeping what is valid.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor import queries
from monitor.config import load_config
from monitor.store import open_store
from monitor_app.widgets import DEGRADED_FILL
from tests.dashboard.helpers import (
    NOW,
    array,
    captions,
    cli_json,
    days_ago,
    figure,
    snapshot,
    traces,
    widget,
)


def test_garbage_link_keeps_what_is_valid(app) -> None:
    at = app(view="timeline", e=["Nobody", "LexCorp"], by="year", range="7d")
    assert at.multiselect(key="e").value == ["LexCorp"]
    assert widget(at, "button_group", "range").value == "7d"
    assert widget(at, "button_group", "by").value == "day"  # the default for 7 days
    assert [t["name"] for t in traces(at) if t["name"] != "Ingestion degraded"] == ["LexCorp"]


def test_last_24_hours_is_drawn_by_hour(app) -> None:
    at = app(view="timeline", range="24h", e="Nayib Bukele")
    assert widget(at, "button_group", "by").value == "hour"
    (trace,) = [t for t in traces(at) if t["name"] == "Nayib Bukele"]
    assert len(trace["x"]) == 24


def test_timeline_trace_equals_cli(app, store_config: Path, capsys) -> None:
    d0, d1 = days_ago(14), days_ago(2)
    at = app(view="timeline", range="custom", e="Nayib Bukele", by="day", **{"from": d0, "to": d1})
    (trace,) = [t for t in traces(at) if t["name"] == "Nayib Bukele"]
    assert len(trace["x"]) == 13  # every day of the range, zero-filled
    drawn = {x[:10]: y for x, y in zip(trace["x"], array(trace["y"]), strict=True) if y}
    rows = cli_json(
        store_config, capsys, "mentions", "--by", "day", "--entity", "Nayib Bukele",
        "--since", d0, "--until", d1,
    )  # fmt: skip
    assert drawn == {r["period"]: r["mentions"] for r in rows}


def test_timeline_hover_numbers_are_the_querys(app, store_config: Path) -> None:
    """Each point's hover (mentions, articles, all articles, share, stories) is the query's
    row for that day; the numbers go to the browser as typed arrays (plotly's "bdata"), not
    as long JSON lists."""
    d0, d1 = days_ago(10), days_ago(1)
    at = app(view="timeline", range="custom", e="LexCorp", by="day", **{"from": d0, "to": d1})
    (trace,) = [t for t in traces(at) if t["name"] == "LexCorp"]
    assert "bdata" in trace["y"] and "bdata" in trace["customdata"]
    f = queries.Filters(
        start=datetime.fromisoformat(d0),
        end=datetime.fromisoformat(d1) + timedelta(days=1),
        entities=("LexCorp",),
    )
    want = queries.timeline(snapshot(store_config), f, "day")
    cols = ["mentions", "articles", "total", "share", "stories"]
    got = array(trace["customdata"])
    assert got.shape == (len(want), len(cols))
    assert got.ravel().tolist() == pytest.approx(want[cols].to_numpy("float64").ravel().tolist())
    assert array(trace["y"]).tolist() == want["mentions"].tolist()
    assert "%{customdata[2]:,} of articles" not in trace["hovertemplate"]
    assert " of %{customdata[2]:,} articles" in trace["hovertemplate"]


def test_timeline_normalized_is_the_share(app, store_config: Path) -> None:
    d0, d1 = days_ago(10), days_ago(1)
    at = app(
        view="timeline", range="custom", e="LexCorp", by="day", norm="true",
        **{"from": d0, "to": d1},
    )  # fmt: skip
    (trace,) = [t for t in traces(at) if t["name"] == "LexCorp"]
    snap = open_store(load_config(store_config).store).snapshot()
    f = queries.Filters(
        start=datetime.fromisoformat(d0),
        end=datetime.fromisoformat(d1) + timedelta(days=1),
        entities=("LexCorp",),
    )
    want = queries.timeline(snap, f, "day")["share"].tolist()
    assert array(trace["y"]).tolist() == pytest.approx(want)


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


def test_hourly_over_a_long_range_is_drawn_by_day(app) -> None:
    """A line of 720 hourly points is a thicket: past 500 points the timeline (and Compare)
    draw the next coarser granularity and say so; two weeks by hour stay hourly."""
    at = app(view="timeline", range="30d", by="hour", e="LexCorp")
    assert widget(at, "button_group", "by").value == "hour"  # the link keeps what was asked
    (trace,) = [t for t in traces(at) if t["name"] == "LexCorp"]
    assert len(trace["x"]) == 30
    assert "By hour, this range is about 7" in captions(at) and "shown by day" in captions(at)
    at = app(view="compare", range="30d", by="hour")
    assert all(len(t["x"]) == 30 for t in traces(at) if t["type"] == "scatter")
    at = app(view="timeline", range="custom", by="hour", e="LexCorp",
             **{"from": days_ago(13), "to": days_ago(0)})  # fmt: skip
    (trace,) = [t for t in traces(at) if t["name"] == "LexCorp"]
    assert len(trace["x"]) == 14 * 24
    assert "shown by" not in captions(at)


# --------------------------------------------------------------------------------------------
# Stories and tone (issue 13)


def test_stories_trace_equals_cli(app, store_config: Path, capsys) -> None:
    d0, d1 = days_ago(14), days_ago(0)
    at = app(
        view="timeline", range="custom", e="Lex Luthor", by="day", measure="stories",
        **{"from": d0, "to": d1},
    )  # fmt: skip
    (trace,) = [t for t in traces(at) if t["name"] == "Lex Luthor"]
    drawn = {x[:10]: y for x, y in zip(trace["x"], array(trace["y"]), strict=True) if y}
    rows = cli_json(
        store_config, capsys, "mentions", "--by", "day", "--entity", "Lex Luthor",
        "--since", d0, "--until", d1,
    )  # fmt: skip
    assert drawn == {r["period"]: r["stories"] for r in rows}
    assert any(r["stories"] < r["articles"] for r in rows)  # the day of the wire story
    assert "Stories** count an entity's articles with syndicated copies" in captions(at)
    assert "stories<extra>" in trace["hovertemplate"]


def test_normalized_stories_are_the_share_of_all_stories(app, store_config: Path) -> None:
    d0, d1 = days_ago(10), days_ago(0)
    at = app(
        view="timeline", range="custom", e="Metropolis", by="day", measure="stories",
        norm="true", **{"from": d0, "to": d1},
    )  # fmt: skip
    (trace,) = [t for t in traces(at) if t["name"] == "Metropolis"]
    f = queries.Filters(
        start=datetime.fromisoformat(d0),
        end=datetime.fromisoformat(d1) + timedelta(days=1),
        entities=("Metropolis",),
    )
    want = queries.timeline(snapshot(store_config), f, "day", story_share=True)
    assert array(trace["y"]).tolist() == pytest.approx(want["story_share"].tolist())
    assert want["total_stories"].sum() < want["total"].sum()  # copies count once
    assert "as a share of all stories" in captions(at)


def test_tone_is_the_mean_per_period_with_the_mentions_behind_it(app, store_config: Path) -> None:
    d0, d1 = days_ago(14), days_ago(0)
    at = app(
        view="timeline", range="custom", e="Nayib Bukele", by="day", measure="tone",
        **{"from": d0, "to": d1},
    )  # fmt: skip
    (trace,) = [t for t in traces(at) if t["name"] == "Nayib Bukele"]
    f = queries.Filters(
        start=datetime.fromisoformat(d0),
        end=datetime.fromisoformat(d1) + timedelta(days=1),
        entities=("Nayib Bukele",),
    )
    want = queries.tone_timeline(snapshot(store_config), f, "day").set_index("period")
    points = zip(trace["x"], trace["y"], trace["customdata"], strict=True)
    drawn = {x[:10]: (y, c) for x, y, c in points if y is not None}
    assert len(drawn) == len(want) > 5
    for period, row in want.iterrows():
        y, (mentions, toned) = drawn[period.date().isoformat()]
        assert y == pytest.approx(row["tone"])
        assert (mentions, toned) == (row["mentions"], row["toned"])
    faded = [o == 0.3 for o in trace["marker"]["opacity"]]
    assert faded == [c[0] < 5 for c in trace["customdata"]] and any(faded)
    assert "mentions in %{customdata[1]:,} scored articles" in trace["hovertemplate"]
    assert "a lexicon's reading of the words around a name, **not** the outlet's stance" in (
        " ".join(c.value for c in at.caption)
    )
    assert widget(at, "toggle", "norm").proto.disabled  # a mean score is not normalized


def test_old_measure_links_open_the_same_view(app) -> None:
    """measure=articles (and norm) links made before stories and tone draw what they drew."""
    at = app(view="timeline", range="7d", e="LexCorp", measure="articles")
    assert widget(at, "button_group", "measure").value == "articles"
    assert [t["name"] for t in traces(at) if t["name"] != "Ingestion degraded"] == ["LexCorp"]
    assert figure(at)["layout"]["yaxis"]["title"]["text"] == "Articles"
    at = app(view="timeline", range="7d", e="LexCorp", norm="true")
    assert figure(at)["layout"]["yaxis"]["title"]["text"] == "Share of all articles"
