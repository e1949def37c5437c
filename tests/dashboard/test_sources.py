"""The Sources page, headless: the table equals `queries.top_feeds`; it is sent only when its
expander is open (a link keeps it open)."""

from __future__ import annotations

from pathlib import Path

from monitor import queries
from monitor.config import load_config
from monitor.store import open_store
from tests.dashboard.helpers import flat, traces


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
