"""The Sources page, headless: the table equals `queries.top_feeds`; it is sent only when its
expander is open (a link keeps it open)."""

from __future__ import annotations

from pathlib import Path

from monitor import queries
from monitor.config import load_config
from monitor.store import open_store
from tests.dashboard.helpers import array, flat, traces


def test_sources_table_equals_top_feeds(app, store_config: Path) -> None:
    at = app(view="sources", range="all", rows="true")
    snap = open_store(load_config(store_config).store).snapshot()
    want = queries.top_feeds(snap, queries.Filters())
    shown = at.dataframe[0].value
    assert shown["Articles"].tolist() == want["articles"].tolist()
    assert shown["Feed URL"].tolist() == want["feed"].tolist()


def test_the_coloured_entities_are_the_timelines(app) -> None:
    """The same entities get a colour of their own as on Timeline, with the same colours, and
    the caption says which and why before the chart."""
    timeline = {
        t["name"]: t["line"]["color"]
        for t in traces(app(view="timeline", range="all"))
        if t["name"] != "Ingestion degraded"
    }
    at = app(view="sources", range="all")
    bars = {t["name"]: t["marker"]["color"] for t in traces(at) if t["name"] != "Other entities"}
    assert bars == timeline
    order = flat(at)
    chart = [kind for kind, _ in order].index("plotly_chart")
    before = " ".join(text for _, text in order[:chart])
    assert "the same as on Timeline and Compare" in before
    assert "feeds with the most" not in " ".join(text for _, text in order[chart:])


def test_the_table_waits_for_its_expander(app) -> None:
    """A first open draws the bars and sends no table (at 2M articles ~90,000 rows, 1.8 MB
    for the browser); the expander says what it holds, and `?rows=true` opens it."""
    at = app(view="sources", range="all")
    assert len(at.get("plotly_chart")) == 1
    assert len(at.dataframe) == 0
    label = at.expander[-1].proto.label
    assert "Every feed and entity" in label and "open its articles" in label
    assert at.get("download_button")  # the CSV of every row, with the table closed too
    opened = app(view="sources", range="all", rows="true")
    assert len(opened.dataframe) == 1
    assert opened.expander[-1].proto.expanded
    assert len(app(view="sources", range="all", rows="maybe").dataframe) == 0  # dropped, closed


def test_the_bars_are_the_tables_sums(app, store_config: Path) -> None:
    """Each bar is the sum of the table's rows of its feed and colour group (the bars come
    from their own query, without the table): the top feeds by articles, most first."""
    at = app(view="sources", range="all")
    snap = open_store(load_config(store_config).store).snapshot()
    rows = queries.top_feeds(snap, queries.Filters())
    per_feed = rows.groupby("name")["articles"].sum().sort_values(ascending=False, kind="stable")
    bars = traces(at)
    assert bars and list(bars[0]["y"]) == per_feed.index.tolist()[: len(bars[0]["y"])]
    drawn = [t["name"] for t in bars if t["name"] != "Other entities"]
    for t in bars:
        mine = rows[rows["entity"].isin(drawn) != (t["name"] == "Other entities")]
        if t["name"] != "Other entities":
            mine = mine[mine["entity"] == t["name"]]
        want = mine.groupby("name")[["articles", "mentions"]].sum().reindex(t["y"]).fillna(0)
        assert list(array(t["x"])) == want["articles"].tolist(), t["name"]
        assert list(array(t["customdata"])) == want["mentions"].tolist(), t["name"]


def test_a_first_draw_does_not_compute_the_table(app, monkeypatch) -> None:
    """The ~80,000 rows of every (feed, entity) pair are computed when the expander opens (or
    the CSV is asked for), not for the bars: a first open after a poll costs half as much."""
    import monitor_app.pages.sources as page

    def refuse(*args, **kwargs):
        raise AssertionError("top_feeds computed for a closed table")

    page.cached_sources_table.clear()
    monkeypatch.setattr(queries, "top_feeds", refuse)
    at = app(view="sources", range="7d")  # (a range no other test of the page caches)
    assert len(at.get("plotly_chart")) == 1
    assert len(at.dataframe) == 0
