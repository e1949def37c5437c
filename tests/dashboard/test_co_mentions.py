"""The Co-mentions page, headless: the pairs equal `queries.co_mentions`, the table is sent only
when a link opens it, every cell of the heatmap can be clicked, and a pair opens its articles
(the clicks themselves: tests/dashboard/test_browser.py)."""

from __future__ import annotations

from pathlib import Path

from monitor import queries
from monitor.config import load_config
from monitor.store import open_store
from tests.dashboard.helpers import (
    array,
    captions,
    card_html,
    figure,
    flat,
    run_app,
    snapshot,
    traces,
)


def test_pairs_equal_the_queries(app, store_config: Path) -> None:
    at = app(view="co-mentions", range="all", rows="true")
    snap = open_store(load_config(store_config).store).snapshot()
    entities = tuple(queries.mention_counts(snap, queries.Filters())["entity"])
    want = queries.co_mentions(snap, queries.Filters(entities=entities))
    shown = at.dataframe[0].value
    assert shown["Articles"].tolist() == want["articles"].tolist()[:200]
    heat, cells = traces(at)
    assert heat["type"] == "heatmap"
    z = {(y, x): v for y, row in zip(heat["y"], array(heat["z"]), strict=True)
         for x, v in zip(heat["x"], row, strict=True)}  # fmt: skip
    for a, b, n in want.itertuples(index=False):
        assert z[(a, b)] == z[(b, a)] == n
    # one clickable cell for each pair, both ways, holding its count
    clicks = {
        (y, x): n for x, y, n in zip(cells["x"], cells["y"], cells["customdata"], strict=True)
    }
    assert clicks == {**{(a, b): n for a, b, n in want.itertuples(index=False)},
                      **{(b, a): n for a, b, n in want.itertuples(index=False)}}  # fmt: skip


def test_the_table_is_sent_only_when_open(app) -> None:
    """The link without `rows` draws the heatmap and a closed Top pairs expander, no grid (its
    code is a lazily loaded chunk of JavaScript); `?rows=true` opens it."""
    at = app(view="co-mentions", range="all")
    assert len(at.get("plotly_chart")) == 1
    assert len(at.dataframe) == 0
    assert [e.label for e in at.expander if "Top pairs" in e.label]
    at = app(view="co-mentions", range="all", rows="true")
    assert len(at.dataframe) == 1


def test_a_picked_pair_lists_its_articles(app) -> None:
    """The pair a click or a row pick chose (the callbacks keep it in session state): its
    count from the pairs drawn, its articles; a pair no longer drawn shows nothing."""
    at = app(view="co-mentions", range="all", rows="true")
    first = at.dataframe[0].value.iloc[0]
    at.session_state["co_pair"] = (str(first["With"]), str(first["Entity"]))  # either order
    at.run()
    assert not at.exception
    cards = card_html(at)
    assert cards.count('class="mm-card"') == min(50, int(first["Articles"]))
    heading = " ".join(m.value for m in at.markdown)
    assert f"{int(first['Articles']):,} article" in heading
    at.session_state["co_pair"] = (str(first["Entity"]), "Nobody At All")
    at.run()
    assert not at.exception
    assert not [h for h in at.get("html") if "mm-list" in h.proto.body]
    assert " article" not in " ".join(m.value for m in at.markdown if m.value.startswith("####"))


def test_the_caption_counts_the_entities_drawn(app, demo_config: Path, monkeypatch) -> None:
    at = app(view="co-mentions", range="all")
    assert "All 4 entities mentioned in the range." in captions(at)
    monkeypatch.setenv("MONITOR_CONFIG", str(demo_config))
    at = run_app(view="co-mentions", range="all")
    n = len(queries.mention_counts(snapshot(demo_config), queries.Filters()))
    assert n < 20  # the demo watches 15
    assert f"All {n} entities mentioned in the range." in captions(at)
    assert "20 most mentioned" not in captions(at)


def test_the_heatmap_is_readable(demo_config: Path, monkeypatch) -> None:
    """As wide as the page (not in a column), a row tall enough for its numbers, names
    slanted rather than vertical."""
    monkeypatch.setenv("MONITOR_CONFIG", str(demo_config))
    at = run_app(view="co-mentions", range="all")
    spec = figure(at)
    heat, _ = spec["data"]
    assert spec["layout"]["height"] >= 36 * len(heat["y"])
    assert heat["textfont"]["size"] >= 12
    assert -60 <= spec["layout"]["xaxis"]["tickangle"] < 0
    assert "column" not in [kind for kind, _ in flat(at)]  # the page's full width
